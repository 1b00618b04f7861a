#include "net/socket_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <memory>

#include "loop/errors.h"
#include "loop/logging.h"
#include "net/transport_util.h"

namespace aio {

using internal::current_error_unless_interrupt;
using internal::os_error;
using internal::would_block;

namespace {

constexpr int kMaxIovecs = 64;

}  // namespace

internal::Ref<SocketTransport> SocketTransport::create(EventLoop& loop, Socket socket,
                                                       std::shared_ptr<BaseProtocol> protocol,
                                                       std::optional<Future<void>> waiter,
                                                       internal::ConnectionTracker* server) {
  auto transport =
      internal::Ref<SocketTransport>::share(new SocketTransport(loop, std::move(socket), server));
  transport->set_protocol(std::move(protocol));
  transport->start(*transport, std::move(waiter));
  return transport;
}

SocketTransport::SocketTransport(EventLoop& loop, Socket socket,
                                 internal::ConnectionTracker* server)
    : FdTransport(loop, *this), socket_(std::move(socket)), server_(server) {
  int fd = socket_.fileno();
  // asyncio caches both names at creation; a peer that already left has no peername.
  SocketAddress address;
  socklen_t length = SocketAddress::capacity();
  if (::getsockname(fd, address.data(), &length) == 0) {
    address.set_size(length);
    sockname_ = address;
  }
  length = SocketAddress::capacity();
  if (::getpeername(fd, address.data(), &length) == 0) {
    address.set_size(length);
    peername_ = address;
  }
  if (sockname_ && (sockname_->family() == AF_INET || sockname_->family() == AF_INET6)) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  adopt_fd(fd);
  if (server_ != nullptr) server_->attach();
}

SocketTransport::~SocketTransport() { release_fd(); }

void SocketTransport::start_watching() {
  // Not if connection_made paused reading.
  if (!paused_) loop_->watch_reader(socket_.fileno(), [this] { on_readable(); });
}

void SocketTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto* stream = dynamic_cast<Protocol*>(protocol.get());
  auto* buffered = dynamic_cast<BufferedProtocol*>(protocol.get());
  if (stream == nullptr && buffered == nullptr) {
    throw TypeError("a stream transport needs a Protocol or a BufferedProtocol");
  }
  attach_protocol(std::move(protocol));
  stream_protocol_ = stream;
  buffered_protocol_ = buffered;
}

std::string SocketTransport::repr() const {
  std::string text = "<SocketTransport";
  if (socket_.fileno() < 0) {
    text += " closed";
  } else {
    text += " fd=" + std::to_string(socket_.fileno());
    if (closing_) text += " closing";
    text += is_reading() ? " read=polling" : " read=idle";
    text += buffer_.empty() ? " write=<idle, bufsize=0>"
                            : " write=<polling, bufsize=" + std::to_string(buffer_.size()) + ">";
  }
  return text + ">";
}

std::any SocketTransport::get_extra_info(std::string_view name, std::any default_value) const {
  if (name == "peername" && peername_) return *peername_;
  if (name == "sockname" && sockname_) return *sockname_;
  if (name == "socket" && socket_.is_open()) {
    return std::make_shared<Socket>(socket_.tracking_view());
  }
  return default_value;
}

// --- Reading -------------------------------------------------------------------------------------

void SocketTransport::pause_reading() {
  if (closing_ || paused_) return;
  paused_ = true;
  if (loop_ != nullptr) loop_->unwatch_reader(socket_.fileno());
  if (loop_ != nullptr && loop_->get_debug()) log(LogLevel::kDebug, repr() + " pauses reading");
}

void SocketTransport::resume_reading() {
  if (closing_ || !paused_) return;
  paused_ = false;
  if (loop_ == nullptr) return;
  loop_->watch_reader(socket_.fileno(), [this] { on_readable(); });
  if (loop_->get_debug()) log(LogLevel::kDebug, repr() + " resumes reading");
}

void SocketTransport::on_readable() {
  if (conn_lost_ > 0) return;
  if (buffered_protocol_ != nullptr) {
    read_into_buffered_protocol();
  } else {
    read_into_protocol();
  }
}

std::size_t SocketTransport::receive(std::span<std::byte> buffer) {
  ssize_t n = ::recv(socket_.fileno(), buffer.data(), buffer.size(), 0);
  if (n > 0) return static_cast<std::size_t>(n);
  if (n == 0) {
    on_eof();
  } else if (!would_block(errno)) {
    fatal_os_error(errno, "Fatal read error on socket transport");
  }
  return 0;
}

void SocketTransport::read_into_protocol() {
  std::byte* buffer = internal::receive_buffer();
  std::size_t n = receive(std::span<std::byte>(buffer, internal::kMaxRead));
  if (n == 0) return;
  try {
    stream_protocol_->data_received(std::span<const std::byte>(buffer, n));
  } catch (...) {
    fatal_error(current_error_unless_interrupt(),
                "Fatal error: protocol.data_received() call failed.");
  }
}

void SocketTransport::read_into_buffered_protocol() {
  std::span<std::byte> buffer;
  try {
    buffer = buffered_protocol_->get_buffer(-1);
    if (buffer.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
  } catch (...) {
    fatal_error(current_error_unless_interrupt(),
                "Fatal error: protocol.get_buffer() call failed.");
    return;
  }
  std::size_t n = receive(buffer);
  if (n == 0) return;
  try {
    buffered_protocol_->buffer_updated(n);
  } catch (...) {
    fatal_error(current_error_unless_interrupt(),
                "Fatal error: protocol.buffer_updated() call failed.");
  }
}

void SocketTransport::on_eof() {
  if (loop_->get_debug()) log(LogLevel::kDebug, repr() + " received EOF");
  bool keep_open = false;
  try {
    keep_open = stream_protocol_ != nullptr ? stream_protocol_->eof_received()
                                            : buffered_protocol_->eof_received();
  } catch (...) {
    fatal_error(current_error_unless_interrupt(),
                "Fatal error: protocol.eof_received() call failed.");
    return;
  }
  if (keep_open) {
    // Nothing more will come: stop watching, but leave the write side to the protocol.
    loop_->unwatch_reader(socket_.fileno());
  } else {
    close();
  }
}

// --- Writing -------------------------------------------------------------------------------------

void SocketTransport::write(std::span<const std::byte> data) {
  if (empty_waiter_ || sendfile_fallback_) {
    throw RuntimeError("unable to write; sendfile is in progress");
  }
  sendfile_write(data);
}

void SocketTransport::sendfile_write(std::span<const std::byte> data) {
  if (eof_) throw RuntimeError("Cannot call write() after write_eof()");
  if (data.empty()) return;
  if (conn_lost_ > 0) {
    drop_lost_write("socket.send() raised exception.");
    return;
  }
  if (buffer_.empty()) {
    // Nothing queued: try the kernel first, the common case costs one send().
    ssize_t n = ::send(socket_.fileno(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (!would_block(errno)) {
        fatal_os_error(errno, "Fatal write error on socket transport");
        return;
      }
      n = 0;
    }
    data = data.subspan(static_cast<std::size_t>(n));
    if (data.empty()) return;
    loop_->watch_writer(socket_.fileno(), [this] { on_writable(); });
  }
  buffer_.append(data);
  maybe_pause_protocol(buffer_.size());
}

void SocketTransport::on_writable() {
  if (conn_lost_ > 0) return;
  iovec pieces[kMaxIovecs];
  int count = buffer_.fill(pieces, kMaxIovecs);
  msghdr message{};
  message.msg_iov = pieces;
  message.msg_iovlen = static_cast<std::size_t>(count);
  ssize_t n = ::sendmsg(socket_.fileno(), &message, MSG_NOSIGNAL);
  if (n < 0) {
    if (would_block(errno)) return;
    int err = errno;
    discard_write_buffer();
    if (empty_waiter_ && !empty_waiter_->done()) empty_waiter_->set_exception(os_error(err));
    fatal_os_error(err, "Fatal write error on socket transport");
    return;
  }
  buffer_.consume(static_cast<std::size_t>(n));
  maybe_resume_protocol(buffer_.size());
  if (!buffer_.empty()) return;
  loop_->unwatch_writer(socket_.fileno());
  if (empty_waiter_ && !empty_waiter_->done()) empty_waiter_->set_result();
  if (closing_) {
    finish_close();
  } else if (eof_) {
    ::shutdown(socket_.fileno(), SHUT_WR);
  }
}

Future<void> SocketTransport::begin_sendfile() {
  if (empty_waiter_) throw RuntimeError("Empty waiter is already set");
  empty_waiter_ = loop_->create_future();
  if (buffer_.empty()) empty_waiter_->set_result();
  return *empty_waiter_;
}

void SocketTransport::end_sendfile() { empty_waiter_.reset(); }

void SocketTransport::write_eof() {
  if (closing_ || eof_) return;
  eof_ = true;
  if (buffer_.empty()) ::shutdown(socket_.fileno(), SHUT_WR);
}

void SocketTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                              std::optional<std::size_t> low) {
  flow_.set_limits(high, low);
  maybe_pause_protocol(buffer_.size());
}

// --- Closing -------------------------------------------------------------------------------------

void SocketTransport::close() { close_when_flushed(buffer_.empty()); }

void SocketTransport::discard_write_buffer() noexcept {
  if (buffer_.empty()) return;
  buffer_.clear();
  loop_->unwatch_writer(socket_.fileno());
}

void SocketTransport::before_connection_lost() {
  if (empty_waiter_ && !empty_waiter_->done()) {
    empty_waiter_->set_exception(ConnectionError(ENOTCONN, "Connection is closed by peer", true));
  }
}

void SocketTransport::on_released() noexcept {
  if (loop_ == nullptr) empty_waiter_.reset();  // a future of the loop that closed
  stream_protocol_ = nullptr;
  buffered_protocol_ = nullptr;
  if (auto* server = std::exchange(server_, nullptr)) server->detach();  // may destroy it
}

}  // namespace aio
