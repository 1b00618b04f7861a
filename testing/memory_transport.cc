#include "testing/memory_transport.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "loop/errors.h"
#include "loop/logging.h"
#include "net/transport_util.h"

namespace aio::testing {

std::pair<MemoryTransport::Ref, MemoryTransport::Ref> MemoryTransport::pair(
    EventLoop& loop, std::shared_ptr<BaseProtocol> a, std::shared_ptr<BaseProtocol> b) {
  return connect(loop, Ref::share(new MemoryTransport(loop, "a")),
                 Ref::share(new MemoryTransport(loop, "b")), std::move(a), std::move(b));
}

void MemoryTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto* stream = dynamic_cast<Protocol*>(protocol.get());
  auto* buffered = dynamic_cast<BufferedProtocol*>(protocol.get());
  if (stream == nullptr && buffered == nullptr) {
    throw TypeError("a stream transport needs a Protocol or a BufferedProtocol");
  }
  protocol_ = std::move(protocol);
  stream_protocol_ = stream;
  buffered_protocol_ = buffered;
  protocol_connected_ = true;
}

std::string MemoryTransport::repr() const {
  std::string text = "<MemoryTransport " + name_;
  if (lost_) return text + " closed>";
  if (closing_) text += " closing";
  return text + " bufsize=" + std::to_string(get_write_buffer_size()) + ">";
}

std::any MemoryTransport::get_extra_info(std::string_view name, std::any default_value) const {
  if (name == "sockname") return std::string("memory:") + name_;
  if (name == "peername") return std::string("memory:") + (name_ == "a" ? "b" : "a");
  return default_value;
}

// --- Reading ---------------------------------------------------------------------------------

void MemoryTransport::pause_reading() {
  if (closing_ || paused_) return;
  paused_ = true;
}

void MemoryTransport::resume_reading() {
  if (closing_ || !paused_) return;
  paused_ = false;
  schedule_delivery();
}

void MemoryTransport::stall(bool stalled) {
  stalled_ = stalled;
  schedule_delivery();
}

void MemoryTransport::schedule_delivery() {
  if (loop_ == nullptr || delivery_scheduled_ || !can_take() || (inbound_.empty() && !eof_pending_))
    return;
  post_delivery();
}

void MemoryTransport::deliver() {
  delivery_scheduled_ = false;
  if (!can_take()) return;
  if (inbound_.empty()) {
    if (eof_pending_) deliver_eof();
    return;
  }
  std::size_t n = std::min(max_chunk_, inbound_.size());
  if (reset_after_) n = std::min(n, *reset_after_ - received_);
  std::string chunk = inbound_.substr(0, n);
  inbound_.erase(0, n);
  received_ += n;
  if (n > 0) {
    const char* message = "Fatal error: protocol.data_received() call failed.";
    try {
      if (stream_protocol_ != nullptr) {
        stream_protocol_->data_received(std::as_bytes(std::span(chunk)));
      } else {
        message = "Fatal error: protocol.get_buffer() call failed.";
        for (std::size_t done = 0; done < chunk.size();) {
          std::span<std::byte> buffer = buffered_protocol_->get_buffer(-1);
          if (buffer.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
          std::size_t take = std::min(buffer.size(), chunk.size() - done);
          std::memcpy(buffer.data(), chunk.data() + done, take);
          done += take;
          message = "Fatal error: protocol.buffer_updated() call failed.";
          buffered_protocol_->buffer_updated(take);
        }
      }
    } catch (...) {
      std::exception_ptr error = internal::current_error_unless_interrupt();
      internal::report_fatal_error(*loop_, error, message, *this, protocol_);
      lose(error);
      if (peer_ != nullptr) peer_->lose(internal::os_error(ECONNRESET));
      return;
    }
  }
  if (peer_ != nullptr) peer_->after_drain();
  if (reset_after_ && received_ >= *reset_after_) {
    inbound_.clear();
    lose(internal::os_error(ECONNRESET));
    if (peer_ != nullptr) peer_->lose(internal::os_error(ECONNRESET));
    return;
  }
  schedule_delivery();
}

void MemoryTransport::deliver_eof() {
  eof_pending_ = false;
  bool keep_open = false;
  try {
    keep_open = stream_protocol_ != nullptr ? stream_protocol_->eof_received()
                                            : buffered_protocol_->eof_received();
  } catch (...) {
    std::exception_ptr error = internal::current_error_unless_interrupt();
    internal::report_fatal_error(*loop_, error, "Fatal error: protocol.eof_received() call failed.",
                                 *this, protocol_);
    lose(error);
    return;
  }
  if (!keep_open) close();
}

// --- Writing ---------------------------------------------------------------------------------

void MemoryTransport::write(std::span<const std::byte> data) {
  if (eof_written_) throw RuntimeError("Cannot call write() after write_eof()");
  if (data.empty()) return;
  if (lost_) {
    drop_lost_write();
    return;
  }
  if (peer_ == nullptr) {  // the peer has gone: what a socket's send() says then
    lose(internal::os_error(EPIPE));
    return;
  }
  peer_->inbound_.append(reinterpret_cast<const char*>(data.data()), data.size());
  peer_->schedule_delivery();
  maybe_pause_writer();
}

std::size_t MemoryTransport::get_write_buffer_size() const {
  return peer_ != nullptr ? peer_->inbound_.size() : 0;
}

void MemoryTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                              std::optional<std::size_t> low) {
  flow_.set_limits(high, low);
  maybe_pause_writer();
}

void MemoryTransport::write_eof() {
  if (closing_ || eof_written_) return;
  eof_written_ = true;
  if (peer_ != nullptr) {
    peer_->eof_pending_ = true;
    peer_->schedule_delivery();
  }
}

// --- Closing ---------------------------------------------------------------------------------

void MemoryTransport::close() {
  if (closing_) return;
  closing_ = true;
  if (peer_ != nullptr && !eof_written_) {
    peer_->eof_pending_ = true;  // after what is still buffered for it
    peer_->schedule_delivery();
  }
  if (get_write_buffer_size() == 0) lose(nullptr);
}

void MemoryTransport::abort() {
  if (lost_) return;
  closing_ = true;
  if (peer_ != nullptr) {
    peer_->inbound_.clear();  // unsent data is dropped
    peer_->eof_pending_ = true;
    peer_->schedule_delivery();
  }
  lose(nullptr);
}

void MemoryTransport::fail(std::exception_ptr error) {
  if (lost_) return;
  if (peer_ != nullptr) {
    peer_->eof_pending_ = true;
    peer_->schedule_delivery();
  }
  lose(std::move(error));
}

}  // namespace aio::testing
