#include "net/sock_ops.h"

#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "dns/resolver.h"
#include "loop/errors.h"

namespace aio {
namespace {

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

void check_socket(EventLoop& loop, const Socket& sock) {
  if (loop.get_debug() && sock.blocking()) throw ValueError("the socket must be non-blocking");
}

// Removes the watcher when the operation ends, however it ends (result, error, cancellation).
struct WatchGuard {
  EventLoop& loop;
  int fd;
  bool readable;
  ~WatchGuard() {
    if (loop.is_closed()) return;
    if (readable) {
      loop.remove_reader(fd);
    } else {
      loop.remove_writer(fd);
    }
  }
};

// Tries `attempt` (nullopt: it would block), then again each time the fd is ready.
template <class R, class Attempt>
Coro<R> when_ready(EventLoop& loop, int fd, bool readable, Attempt attempt) {
  if (std::optional<R> done = attempt()) co_return std::move(*done);
  Future<R> result = loop.create_future<R>();
  auto retry = [result, &attempt]() mutable {
    if (result.done()) return;  // cancelled: take nothing from the socket
    try {
      if (std::optional<R> done = attempt()) result.set_result(std::move(*done));
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  };
  if (readable) {
    loop.add_reader(fd, std::move(retry));
  } else {
    loop.add_writer(fd, std::move(retry));
  }
  WatchGuard guard{loop, fd, readable};
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
  if (errno != EINPROGRESS && errno != EINTR) throw_errno();
  co_await when_ready<bool>(loop, fd, false, [&]() -> std::optional<bool> {
    int err = sock.getsockopt(SOL_SOCKET, SO_ERROR);
    if (err == 0) return true;
    if (err == EINPROGRESS || err == EINTR) return std::nullopt;
    throw_os_error(err, "Connect call failed " + address.to_string(), /*replaces_strerror=*/true);
  });
}

Coro<void> sock_connect(EventLoop& loop, Socket& sock, std::string host, std::uint16_t port) {
  int family = sock.family();
  if (family == AF_UNIX) throw ValueError("sock_connect(host, port) needs an IP socket");
  std::vector<dns::AddrInfo> entries =
      co_await dns::getaddrinfo(loop, host, std::to_string(port), family, sock.type());
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
