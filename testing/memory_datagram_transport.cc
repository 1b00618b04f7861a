#include "testing/memory_datagram_transport.h"

#include <cerrno>

#include "loop/errors.h"
#include "loop/logging.h"
#include "net/transport_util.h"

namespace aio::testing {

std::pair<MemoryDatagramTransport::Ref, MemoryDatagramTransport::Ref> MemoryDatagramTransport::pair(
    EventLoop& loop, std::shared_ptr<BaseProtocol> a, std::shared_ptr<BaseProtocol> b) {
  return connect(loop, Ref::share(new MemoryDatagramTransport(loop, "memory:a")),
                 Ref::share(new MemoryDatagramTransport(loop, "memory:b")), std::move(a),
                 std::move(b));
}

void MemoryDatagramTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto* datagram = dynamic_cast<DatagramProtocol*>(protocol.get());
  if (datagram == nullptr) throw TypeError("a datagram transport needs a DatagramProtocol");
  protocol_ = std::move(protocol);
  datagram_protocol_ = datagram;
  protocol_connected_ = true;
}

std::string MemoryDatagramTransport::repr() const {
  std::string text = "<MemoryDatagramTransport " + name_;
  if (lost_) return text + " closed>";
  if (closing_) text += " closing";
  return text + " bufsize=" + std::to_string(get_write_buffer_size()) + ">";
}

std::any MemoryDatagramTransport::get_extra_info(std::string_view name,
                                                 std::any default_value) const {
  if (name == "sockname") return address_;
  if (name == "peername") {
    return SocketAddress::unix_path(name_ == "memory:a" ? "memory:b" : "memory:a");
  }
  return default_value;
}

// --- Receiving ---------------------------------------------------------------------------------

void MemoryDatagramTransport::stall(bool stalled) {
  stalled_ = stalled;
  schedule_delivery();
}

void MemoryDatagramTransport::schedule_delivery() {
  if (loop_ == nullptr || delivery_scheduled_ || stalled_ || lost_ || inbound_.empty()) return;
  post_delivery();
}

void MemoryDatagramTransport::deliver() {
  delivery_scheduled_ = false;
  // Everything queued now, one datagram_received each; what arrives meanwhile waits its turn.
  for (std::size_t n = inbound_.size(); n > 0 && !stalled_ && !lost_ && !inbound_.empty(); --n) {
    std::string datagram = std::move(inbound_.front());
    inbound_.pop_front();
    inbound_bytes_ -= datagram.size();
    if (peer_ != nullptr) peer_->after_drain();
    if (drop_ > 0) {
      --drop_;
      continue;
    }
    ++received_;
    // As aio's socket datagram transport: an exception from datagram_received propagates to
    // the loop's exception handler.
    datagram_protocol_->datagram_received(std::as_bytes(std::span(datagram)),
                                          peer_ != nullptr ? peer_->address_ : SocketAddress());
  }
  schedule_delivery();
}

void MemoryDatagramTransport::inject_error(std::exception_ptr error) {
  if (loop_ == nullptr || lost_) return;
  loop_->call_soon([ref = Ref::share(this), error] {
    if (ref->lost_ || ref->datagram_protocol_ == nullptr) return;
    ref->datagram_protocol_->error_received(error);
  });
}

// --- Sending -----------------------------------------------------------------------------------

void MemoryDatagramTransport::sendto(std::span<const std::byte> data,
                                     const SocketAddress* address) {
  SocketAddress peer_address = std::any_cast<SocketAddress>(get_extra_info("peername"));
  if (address != nullptr && !(*address == peer_address)) {
    throw ValueError("Invalid address: must be None or " + peer_address.to_string());
  }
  if (data.empty()) return;  // asyncio 3.8: an empty datagram is not sent
  if (lost_) {
    drop_lost_write();
    return;
  }
  if (peer_ == nullptr) {  // nobody there: what a connected UDP socket reports
    inject_error(internal::os_error(ECONNREFUSED));
    return;
  }
  peer_->inbound_.emplace_back(reinterpret_cast<const char*>(data.data()), data.size());
  peer_->inbound_bytes_ += data.size();
  peer_->schedule_delivery();
  maybe_pause_writer();
}

std::size_t MemoryDatagramTransport::get_write_buffer_size() const {
  return peer_ != nullptr ? peer_->inbound_bytes_ : 0;
}

void MemoryDatagramTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                                      std::optional<std::size_t> low) {
  flow_.set_limits(high, low);
  maybe_pause_writer();
}

// --- Closing -----------------------------------------------------------------------------------

void MemoryDatagramTransport::close() {
  if (closing_) return;
  closing_ = true;
  if (get_write_buffer_size() == 0) lose(nullptr);  // else once the peer has had them
}

void MemoryDatagramTransport::abort() {
  if (lost_) return;
  closing_ = true;
  if (peer_ != nullptr) {
    peer_->inbound_.clear();  // queued datagrams are dropped
    peer_->inbound_bytes_ = 0;
  }
  lose(nullptr);
}

}  // namespace aio::testing
