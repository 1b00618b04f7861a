#include "net/sock_ops.h"

#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <vector>

#include "dns/resolver.h"
#include "loop/errors.h"

namespace aio {
namespace {

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

void check_socket(EventLoop& loop, const Socket& sock) {
  loop.check_closed();  // before any system call: a blocking socket would block the thread
  if (loop.get_debug() && sock.blocking()) throw ValueError("the socket must be non-blocking");
}

// Removes the operation's watcher when the operation ends, however it ends (result, error,
// cancellation) -- but only if it is still this operation's: another operation on the same fd
// (say, a sock_recv started right after this one was cancelled, before this one unwound) may
// have replaced it, and that one must keep waiting (asyncio's _sock_read_done checks its handle
// the same way). `mine` expires when the loop destroys this operation's callback.
struct WatchGuard {
  EventLoop& loop;
  int fd;
  bool readable;
  std::weak_ptr<void> mine;
  ~WatchGuard() {
    if (loop.is_closed() || mine.expired()) return;
    // No ownership check: the watcher was allowed when it was added.
    if (readable) {
      loop.unwatch_reader(fd);
    } else {
      loop.unwatch_writer(fd);
    }
  }
};

// Waits until the fd is ready (readable or writable) and runs `attempt` then, again each time it
// is ready until it gives a result (nullopt: it would block). With `try_first`, `attempt` runs
// once before any waiting (the system call first, as asyncio).
template <class R, class Attempt>
Coro<R> when_ready(EventLoop& loop, int fd, bool readable, Attempt attempt, bool try_first = true) {
  if (try_first) {
    if (std::optional<R> done = attempt()) co_return std::move(*done);
  }
  Future<R> result = loop.create_future<R>();
  auto token = std::make_shared<char>();
  std::weak_ptr<void> mine = token;
  auto retry = [result, &attempt, token = std::move(token)]() mutable {
    if (result.done()) return;  // cancelled: take nothing from the socket
    try {
      if (std::optional<R> done = attempt()) result.set_result(std::move(*done));
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  };
  // add_reader/add_writer refuse an fd a transport owns ("File descriptor N is used by
  // transport ..."), as asyncio's _ensure_fd_no_transport when an operation has to wait.
  if (readable) {
    loop.add_reader(fd, std::move(retry));
  } else {
    loop.add_writer(fd, std::move(retry));
  }
  WatchGuard guard{loop, fd, readable, std::move(mine)};
  co_return co_await result;
}

}  // namespace

Coro<std::size_t> sock_recv_into(EventLoop& loop, Socket& sock, std::span<std::byte> buffer) {
  check_socket(loop, sock);
  int fd = sock.fileno();
  co_return co_await when_ready<std::size_t>(loop, fd, true, [&]() -> std::optional<std::size_t> {
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (would_block(errno)) return std::nullopt;
    throw_errno();
  });
}

Coro<std::string> sock_recv(EventLoop& loop, Socket& sock, std::size_t nbytes) {
  std::string data(nbytes, '\0');
  std::size_t n = co_await sock_recv_into(
      loop, sock, std::as_writable_bytes(std::span<char>(data.data(), data.size())));
  data.resize(n);
  co_return data;
}

Coro<void> sock_sendall(EventLoop& loop, Socket& sock, std::span<const std::byte> data) {
  check_socket(loop, sock);
  int fd = sock.fileno();
  co_await when_ready<bool>(loop, fd, false, [&]() -> std::optional<bool> {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (would_block(errno)) return std::nullopt;
        throw_errno();
      }
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return true;
  });
}

Coro<void> sock_sendall(EventLoop& loop, Socket& sock, std::string_view data) {
  co_await sock_sendall(loop, sock, std::as_bytes(std::span<const char>(data.data(), data.size())));
}

Coro<void> sock_connect(EventLoop& loop, Socket& sock, SocketAddress address) {
  check_socket(loop, sock);
  int fd = sock.fileno();
  if (::connect(fd, address.data(), address.size()) == 0) co_return;
  // In progress (EINTR: it goes on in the background, asyncio's issue #23618; EALREADY: an
  // earlier, cancelled sock_connect's attempt is still under way). Anything else fails now,
  // EAGAIN included: a UNIX listener's full backlog, where nothing is in progress (asyncio would
  // wait for writability and then wrongly report success).
  if (errno != EINPROGRESS && errno != EINTR && errno != EALREADY) throw_errno();
  // Only writability says the attempt has ended: SO_ERROR is 0 while it is still in progress,
  // so it is read once the socket is writable, never before.
  co_await when_ready<bool>(
      loop, fd, false,
      [&]() -> std::optional<bool> {
        int err = sock.getsockopt(SOL_SOCKET, SO_ERROR);
        if (err == 0) return true;
        if (err == EINPROGRESS || err == EINTR) return std::nullopt;
        throw_os_error(err, "Connect call failed " + address.to_string(),
                       /*replaces_strerror=*/true);
      },
      /*try_first=*/false);
}

Coro<void> sock_connect(EventLoop& loop, Socket& sock, std::string host, std::uint16_t port) {
  check_socket(loop, sock);  // before any lookup, as asyncio
  int family = sock.family();
  if (family != AF_INET && family != AF_INET6) {
    throw ValueError("sock_connect(host, port) needs an IP socket");
  }
  std::vector<dns::AddrInfo> entries = co_await dns::getaddrinfo(
      loop, host, std::to_string(port), family, sock.type(), sock.protocol());
  if (entries.empty()) throw OSError(0, "getaddrinfo() returned empty list", true);
  const dns::AddrInfo& first = entries.front();
  co_await sock_connect(
      loop, sock,
      SocketAddress::from(reinterpret_cast<const sockaddr*>(&first.address), first.address_length));
}

Coro<std::pair<Socket, SocketAddress>> sock_accept(EventLoop& loop, Socket& sock) {
  check_socket(loop, sock);
  int fd = sock.fileno();
  co_return co_await when_ready<std::pair<Socket, SocketAddress>>(
      loop, fd, true, [&]() -> std::optional<std::pair<Socket, SocketAddress>> {
        SocketAddress peer;
        socklen_t length = SocketAddress::capacity();
        int conn = ::accept4(fd, peer.data(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conn < 0) {
          if (would_block(errno) || errno == ECONNABORTED) return std::nullopt;
          throw_errno();
        }
        peer.set_size(length);
        return std::make_pair(Socket(conn), peer);
      });
}

}  // namespace aio
