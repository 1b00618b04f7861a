#include "net/sendfile.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "loop/errors.h"
#include "loop/run_in_executor.h"
#include "net/sendfile_fallback_target.h"
#include "net/sock_ops.h"
#include "net/socket_transport.h"
#include "net/transport_util.h"

namespace aio {
namespace {

bool native_enabled = true;

// asyncio's SENDFILE_FALLBACK_READBUFFER_SIZE (sockets) and the transport fallback's block.
constexpr std::size_t kSocketFallbackBlock = 256 * 1024;
constexpr std::size_t kTransportFallbackBlock = 16 * 1024;

void check_params(int socket_type, std::int64_t offset, std::optional<std::size_t> count) {
  if (socket_type != SOCK_STREAM) throw ValueError("only SOCK_STREAM type sockets are supported");
  if (count && *count == 0) throw ValueError("count must be a positive integer (got 0)");
  if (offset < 0) {
    throw ValueError("offset must be a non-negative integer (got " + std::to_string(offset) + ")");
  }
}

// Leaves the file's position where the transfer stopped (asyncio's _sock_sendfile_update_filepos).
// A source without a position (a pipe) has nothing to update.
void update_position(File& file, std::int64_t offset, std::size_t sent) {
  if (sent > 0) ::lseek(file.fileno(), offset + static_cast<std::int64_t>(sent), SEEK_SET);
}

// Waits until `fd` is writable, through the transport-internal watcher when the fd belongs to
// a transport (its public watchers are refused), else through add_writer.
Coro<void> writable(EventLoop& loop, int fd, bool transport_owned) {
  Future<void> ready = loop.create_future();
  auto fire = [ready]() mutable {
    if (!ready.done()) ready.set_result();
  };
  if (transport_owned) {
    loop.watch_writer(fd, fire);
  } else {
    loop.add_writer(fd, fire);
  }
  struct Unwatch {
    EventLoop& loop;
    int fd;
    bool transport_owned;
    ~Unwatch() {
      if (loop.is_closed()) return;
      transport_owned ? loop.unwatch_writer(fd) : loop.remove_writer(fd);
    }
  } unwatch{loop, fd, transport_owned};
  co_await ready;
}

// sendfile(2) until `count` bytes or EOF. SendfileNotAvailableError if the very first call
// fails (not a regular file, or a socket the kernel cannot splice into): the caller falls back.
Coro<std::size_t> native(EventLoop& loop, int fd, bool transport_owned, File& file,
                         std::int64_t offset, std::optional<std::size_t> count) {
  if (!native_enabled) throw SendfileNotAvailableError("os.sendfile() is not available");
  struct stat info{};
  if (::fstat(file.fileno(), &info) != 0 || !S_ISREG(info.st_mode)) {
    throw SendfileNotAvailableError("not a regular file");
  }
  std::size_t block = count ? *count : static_cast<std::size_t>(info.st_size);
  if (block == 0) co_return 0;  // an empty file
  internal::ignore_sigpipe_once();
  std::size_t total = 0;
  off_t position = offset;
  try {
    for (;;) {
      if (count) {
        if (total >= *count) break;
        block = *count - total;
      }
      ssize_t sent = ::sendfile(fd, file.fileno(), &position, block);
      if (sent < 0) {
        int err = errno;
        if (internal::would_block(err)) {
          co_await writable(loop, fd, transport_owned);
          continue;
        }
        // The connection itself failed (the peer reset it, or it is gone): that error, even
        // before the first byte (CPython would say SendfileNotAvailableError and let the
        // fallback find the same error; without a fallback the cause would be lost).
        bool connection_failed =
            err == EPIPE || err == ECONNRESET || err == ECONNABORTED || err == ENOTCONN;
        if (total == 0 && !connection_failed) {
          throw SendfileNotAvailableError("os.sendfile call failed");
        }
        if (err == ENOTCONN) throw ConnectionError(ENOTCONN, "socket is not connected", true);
        throw_os_error(err);
      }
      if (sent == 0) break;  // EOF
      total += static_cast<std::size_t>(sent);
    }
  } catch (...) {
    update_position(file, offset, total);
    throw;
  }
  update_position(file, offset, total);
  co_return total;
}

// Reads the next block of `file` on the default executor (a regular file read may block), as
// asyncio's fallback does.
Coro<std::size_t> read_block(EventLoop& loop, File& file, std::vector<std::byte>& buffer,
                             std::size_t size) {
  int fd = file.fileno();
  std::byte* data = buffer.data();
  ssize_t n = co_await loop.run_in_executor(nullptr, [fd, data, size] {
    ssize_t got;
    do {
      got = ::read(fd, data, size);
    } while (got < 0 && errno == EINTR);
    return got < 0 ? -static_cast<ssize_t>(errno) : got;
  });
  if (n < 0) throw_os_error(static_cast<int>(-n));
  co_return static_cast<std::size_t>(n);
}

Coro<std::size_t> socket_fallback(EventLoop& loop, Socket& sock, File& file, std::int64_t offset,
                                  std::optional<std::size_t> count) {
  if (offset) file.seek(offset);
  std::size_t block = count ? std::min(*count, kSocketFallbackBlock) : kSocketFallbackBlock;
  std::vector<std::byte> buffer(block);
  std::size_t total = 0;
  try {
    for (;;) {
      if (count) {
        block = std::min(*count - total, block);
        if (block == 0) break;
      }
      std::size_t got = co_await read_block(loop, file, buffer, block);
      if (got == 0) break;
      co_await sock_sendall(loop, sock, std::span<const std::byte>(buffer.data(), got));
      total += got;
    }
  } catch (...) {
    update_position(file, offset, total);
    throw;
  }
  update_position(file, offset, total);
  co_return total;
}

// Stands in for the transport's protocol during the transport fallback (asyncio's
// _SendfileFallbackProtocol): reading is paused, pause/resume_writing gate the next block.
class FallbackProtocol final : public Protocol {
 public:
  FallbackProtocol(EventLoop& loop, Transport& transport, internal::SendfileFallbackTarget& target)
      : loop_(loop), transport_(transport), target_(target), original_(transport.get_protocol()) {
    resume_reading_ = transport.is_reading();
    resume_writing_ = target.protocol_writing_paused();
    transport.pause_reading();
    if (resume_writing_) write_ready_ = loop.create_future();
  }
  void pause_writing() override {
    if (!write_ready_) write_ready_ = loop_.create_future();
  }
  void resume_writing() override {
    if (write_ready_ && !write_ready_->done()) write_ready_->set_result();
    write_ready_.reset();
  }
  void data_received(std::span<const std::byte>) override {
    throw RuntimeError("Invalid state: reading should be paused");
  }
  bool eof_received() override { throw RuntimeError("Invalid state: reading should be paused"); }
  void connection_lost(std::exception_ptr error) override {
    if (write_ready_ && !write_ready_->done()) {
      if (error) {
        write_ready_->set_exception(error);
      } else {
        write_ready_->set_exception(ConnectionError(ECONNRESET, "Connection closed by peer", true));
      }
    }
    original_->connection_lost(error);  // the user's protocol still hears about it
  }
  Coro<void> drain() {
    if (transport_.is_closing())
      throw ConnectionError(ECONNRESET, "Connection closed by peer", true);
    if (write_ready_) {
      Future<void> ready = *write_ready_;
      co_await ready;
    }
  }
  void restore(const std::shared_ptr<BaseProtocol>& self) {
    if (transport_.get_protocol() == self) transport_.set_protocol(original_);
    if (resume_reading_) transport_.resume_reading();
    if (write_ready_ && !write_ready_->done()) write_ready_->cancel();
    // Keep pause/resume alternating for the user's protocol: the transport's flow control may
    // still be paused by the last block (it will call resume_writing on the restored protocol).
    bool paused_now = target_.protocol_writing_paused();
    if (resume_writing_ && !paused_now) original_->resume_writing();
    if (!resume_writing_ && paused_now) original_->pause_writing();
  }

 private:
  EventLoop& loop_;
  Transport& transport_;
  internal::SendfileFallbackTarget& target_;
  std::shared_ptr<BaseProtocol> original_;
  std::optional<Future<void>> write_ready_;
  bool resume_reading_ = false, resume_writing_ = false;
};

// A SocketTransport as a fallback target (its fallback hooks are its own members).
class SocketFallbackTarget final : public internal::SendfileFallbackTarget {
 public:
  explicit SocketFallbackTarget(SocketTransport& transport) : transport_(transport) {}
  bool protocol_writing_paused() const override { return transport_.protocol_writing_paused(); }
  void begin_sendfile_fallback() override { transport_.begin_sendfile_fallback(); }
  void end_sendfile_fallback() override { transport_.end_sendfile_fallback(); }
  void sendfile_write(std::span<const std::byte> data) override { transport_.sendfile_write(data); }

 private:
  SocketTransport& transport_;
};

Coro<std::size_t> transport_fallback(EventLoop& loop, Transport& transport,
                                     internal::SendfileFallbackTarget& target, File& file,
                                     std::int64_t offset, std::optional<std::size_t> count) {
  if (offset) file.seek(offset);
  std::size_t block = count ? std::min(*count, kTransportFallbackBlock) : kTransportFallbackBlock;
  std::vector<std::byte> buffer(block);
  std::size_t total = 0;
  auto protocol = std::make_shared<FallbackProtocol>(loop, transport, target);
  transport.set_protocol(protocol);
  target.begin_sendfile_fallback();
  std::exception_ptr error;
  try {
    for (;;) {
      if (count) {
        block = std::min(*count - total, block);
        if (block == 0) break;
      }
      std::size_t got = co_await read_block(loop, file, buffer, block);
      if (got == 0) break;
      co_await protocol->drain();
      target.sendfile_write(std::span<const std::byte>(buffer.data(), got));
      total += got;
    }
  } catch (...) {
    error = std::current_exception();
  }
  update_position(file, offset, total);
  target.end_sendfile_fallback();
  protocol->restore(protocol);
  if (error) std::rethrow_exception(error);
  co_return total;
}

}  // namespace

void internal::set_native_sendfile_enabled(bool enabled) { native_enabled = enabled; }

Coro<std::size_t> sock_sendfile(EventLoop& loop, Socket& sock, File& file, std::int64_t offset,
                                std::optional<std::size_t> count, bool fallback) {
  loop.check_closed();
  if (loop.get_debug() && sock.blocking()) throw ValueError("the socket must be non-blocking");
  check_params(sock.type(), offset, count);
  try {
    co_return co_await native(loop, sock.fileno(), /*transport_owned=*/false, file, offset, count);
  } catch (const SendfileNotAvailableError&) {
    if (!fallback) throw;
  }
  co_return co_await socket_fallback(loop, sock, file, offset, count);
}

Coro<std::size_t> sendfile(EventLoop& loop, BaseTransport& transport, File& file,
                           std::int64_t offset, std::optional<std::size_t> count, bool fallback) {
  loop.check_closed();
  if (transport.is_closing()) throw RuntimeError("Transport is closing");
  auto* stream = dynamic_cast<SocketTransport*>(&transport);
  if (stream == nullptr) {
    // asyncio's _SendfileMode.FALLBACK (a TLS transport): read+write only.
    auto* target = dynamic_cast<internal::SendfileFallbackTarget*>(&transport);
    auto* writable_transport = dynamic_cast<Transport*>(&transport);
    if (target == nullptr || writable_transport == nullptr) {
      throw RuntimeError("sendfile is not supported for transport " + transport.repr());
    }
    if (!fallback) {
      throw RuntimeError(
          "fallback is disabled and native sendfile is not supported for transport " +
          transport.repr());
    }
    check_params(SOCK_STREAM, offset, count);
    internal::Ref<Transport> keep = internal::Ref<Transport>::share(writable_transport);
    co_return co_await transport_fallback(loop, *writable_transport, *target, file, offset, count);
  }
  check_params(SOCK_STREAM, offset, count);
  internal::Ref<SocketTransport> keep = internal::Ref<SocketTransport>::share(stream);
  try {
    // Native: flush what was written before, keep writes out meanwhile, pause reading.
    bool resume_reading = stream->is_reading();
    stream->pause_reading();
    std::exception_ptr error;
    std::size_t sent = 0;
    try {
      co_await stream->begin_sendfile();
      sent = co_await native(loop, stream->fileno(), /*transport_owned=*/true, file, offset, count);
    } catch (...) {
      error = std::current_exception();
    }
    stream->end_sendfile();
    if (resume_reading) stream->resume_reading();
    if (error) std::rethrow_exception(error);
    co_return sent;
  } catch (const SendfileNotAvailableError&) {
    if (!fallback) throw;
  }
  SocketFallbackTarget target(*stream);
  co_return co_await transport_fallback(loop, *stream, target, file, offset, count);
}

}  // namespace aio
