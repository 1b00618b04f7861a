#include "net/datagram_transport.h"

#include <sys/socket.h>

#include <cerrno>

#include "loop/errors.h"
#include "loop/logging.h"
#include "net/transport_util.h"

namespace aio {

using internal::current_error_unless_interrupt;
using internal::os_error;
using internal::would_block;

internal::Ref<DatagramSocketTransport> DatagramSocketTransport::create(
    EventLoop& loop, Socket socket, std::shared_ptr<BaseProtocol> protocol,
    std::optional<SocketAddress> remote, std::optional<Future<void>> waiter) {
  auto transport = internal::Ref<DatagramSocketTransport>::share(
      new DatagramSocketTransport(loop, std::move(socket), std::move(remote)));
  transport->set_protocol(std::move(protocol));
  transport->start(*transport, std::move(waiter));
  return transport;
}

void DatagramSocketTransport::start_watching() {
  loop_->watch_reader(socket_.fileno(), [this] { on_readable(); });
}

DatagramSocketTransport::DatagramSocketTransport(EventLoop& loop, Socket socket,
                                                 std::optional<SocketAddress> remote)
    : FdTransport(loop, *this), socket_(std::move(socket)), address_(std::move(remote)) {
  // asyncio caches both names at creation; an unconnected socket has no peername.
  SocketAddress address;
  socklen_t length = SocketAddress::capacity();
  if (::getsockname(socket_.fileno(), address.data(), &length) == 0) {
    address.set_size(length);
    sockname_ = address;
  }
  length = SocketAddress::capacity();
  if (::getpeername(socket_.fileno(), address.data(), &length) == 0) {
    address.set_size(length);
    peername_ = address;
  }
  adopt_fd(socket_.fileno());
}

DatagramSocketTransport::~DatagramSocketTransport() { release_fd(); }

void DatagramSocketTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto* datagram = dynamic_cast<DatagramProtocol*>(protocol.get());
  if (datagram == nullptr) throw TypeError("a datagram transport needs a DatagramProtocol");
  attach_protocol(std::move(protocol));
  datagram_protocol_ = datagram;
}

std::string DatagramSocketTransport::repr() const {
  std::string text = "<DatagramSocketTransport";
  if (!socket_.is_open()) return text + " closed>";
  text += " fd=" + std::to_string(socket_.fileno());
  if (closing_) text += " closing";
  return text + " bufsize=" + std::to_string(buffered_bytes_) + ">";
}

std::any DatagramSocketTransport::get_extra_info(std::string_view name,
                                                 std::any default_value) const {
  if (name == "peername" && peername_) return *peername_;
  if (name == "sockname" && sockname_) return *sockname_;
  if (name == "socket" && socket_.is_open()) {
    return std::make_shared<Socket>(socket_.tracking_view());
  }
  return default_value;
}

void DatagramSocketTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                                      std::optional<std::size_t> low) {
  flow_.set_limits(high, low);
  maybe_pause_protocol(buffered_bytes_);
}

// --- Receiving -----------------------------------------------------------------------------------

void DatagramSocketTransport::on_readable() {
  if (conn_lost_ > 0) return;
  std::byte* buffer = internal::receive_buffer();
  SocketAddress sender;
  socklen_t length = SocketAddress::capacity();
  ssize_t n = ::recvfrom(socket_.fileno(), buffer, internal::kMaxRead, 0, sender.data(), &length);
  if (n < 0) {
    if (would_block(errno)) return;
    report_error_received(os_error(errno));  // e.g. ECONNREFUSED from an earlier send
    return;
  }
  sender.set_size(length);
  // An unbound UNIX sender has no address (Python's None): on a connected socket it can only be
  // the peer, whose address answers it.
  if (length == 0 && peername_) sender = *peername_;
  // As asyncio, an exception from datagram_received is the loop's to report: it propagates.
  datagram_protocol_->datagram_received(std::span<const std::byte>(buffer, static_cast<size_t>(n)),
                                        sender);
}

void DatagramSocketTransport::report_error_received(std::exception_ptr error) {
  try {
    datagram_protocol_->error_received(std::move(error));
  } catch (...) {
    fatal_error(current_error_unless_interrupt(),
                "Fatal error: protocol.error_received() call failed.");
  }
}

// --- Sending -------------------------------------------------------------------------------------

void DatagramSocketTransport::sendto(std::span<const std::byte> data,
                                     const SocketAddress* address) {
  if (data.empty()) return;  // asyncio 3.8: an empty datagram is not sent (nor checked)
  std::optional<SocketAddress> target;
  if (address != nullptr) target = *address;
  if (address_) {
    if (target && !(*target == *address_)) {
      throw ValueError("Invalid address: must be None or " + address_->to_string());
    }
    target = address_;
  }
  // Dropped once connection_lost is on its way (asyncio's _conn_lost). While close() flushes
  // the queue, sends are still queued and flushed, as asyncio.
  if (conn_lost_ > 0) {
    drop_lost_write("socket.send() raised exception.");
    return;
  }
  if (buffer_.empty()) {
    if (send_now(data, target)) return;
    loop_->watch_writer(socket_.fileno(), [this] { on_writable(); });
  }
  buffer_.push_back(Datagram{std::vector<std::byte>(data.begin(), data.end()), target});
  buffered_bytes_ += data.size();
  maybe_pause_protocol(buffered_bytes_);
}

bool DatagramSocketTransport::send_now(std::span<const std::byte> data,
                                       const std::optional<SocketAddress>& address) {
  // Connected: send() (asyncio checks the peername too); else sendto() the address, which
  // allow_broadcast's remote_addr provides when the caller gave none.
  ssize_t n = address && !peername_
                  ? ::sendto(socket_.fileno(), data.data(), data.size(), MSG_NOSIGNAL,
                             address->data(), address->size())
                  : ::send(socket_.fileno(), data.data(), data.size(), MSG_NOSIGNAL);
  if (n >= 0) return true;
  if (would_block(errno)) return false;
  report_error_received(os_error(errno));
  return true;
}

void DatagramSocketTransport::on_writable() {
  if (conn_lost_ > 0) return;
  while (!buffer_.empty()) {
    Datagram& next = buffer_.front();
    if (!send_now(next.data, next.address)) break;  // still full: wait for the next event
    if (conn_lost_ > 0) return;  // error_received aborted the endpoint (the queue is gone)
    buffered_bytes_ -= next.data.size();
    buffer_.pop_front();
  }
  // After every flush attempt, as asyncio: resume at the low-water mark, not only when empty.
  // resume_writing() may send more.
  maybe_resume_protocol(buffered_bytes_);
  if (!buffer_.empty() || conn_lost_ > 0) return;
  loop_->unwatch_writer(socket_.fileno());
  if (closing_) finish_close();
}

// --- Closing -------------------------------------------------------------------------------------

void DatagramSocketTransport::close() { close_when_flushed(buffer_.empty()); }

void DatagramSocketTransport::discard_write_buffer() noexcept {
  if (buffer_.empty()) return;
  buffer_.clear();
  buffered_bytes_ = 0;
  loop_->unwatch_writer(socket_.fileno());
}

}  // namespace aio
