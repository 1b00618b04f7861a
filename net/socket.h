// Socket: a small owning socket (the `sock=` argument of create_connection, create_server and
// friends, and the sock_* operations), and its non-owning views. A tracking view (what
// get_extra_info("socket") and Server::sockets() return, like asyncio's TransportSocket) cannot
// close the transport's socket from under it, and follows it: once the owner closes, the view's
// fileno() is -1, never a stale number the next open() may reuse.
#ifndef AIO_NET_SOCKET_H_
#define AIO_NET_SOCKET_H_

#include <sys/socket.h>

#include <memory>
#include <string>
#include <utility>

#include "net/address.h"

namespace aio {

class Socket {
 public:
  Socket() = default;
  // Takes ownership of `fd` (closed by the destructor).
  explicit Socket(int fd) noexcept : fd_(fd) {}
  // A new non-blocking, close-on-exec socket. OSError on failure.
  static Socket create(int family, int type, int protocol = 0);
  // A socket that refers to `fd` without owning it: close() and detach() are refused.
  static Socket view(int fd) noexcept {
    Socket socket(fd);
    socket.owned_ = false;
    return socket;
  }
  // A non-owning view of this socket that follows it (fileno() -1 once this one is closed,
  // detached or destroyed).
  Socket tracking_view() const;
  // A connected pair (socket.socketpair), both non-blocking.
  static std::pair<Socket, Socket> pair(int family = AF_UNIX, int type = SOCK_STREAM);

  Socket(Socket&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        owned_(std::exchange(other.owned_, true)),
        closed_(std::exchange(other.closed_, false)),
        cell_(std::move(other.cell_)) {}
  Socket& operator=(Socket&& other) noexcept;
  ~Socket();

  int fileno() const noexcept { return cell_ ? *cell_ : fd_; }
  bool is_open() const noexcept { return fileno() >= 0; }
  bool owned() const noexcept { return owned_; }
  // A socket that was closed (or detached), as opposed to no socket at all (default-made): a
  // closed socket passed as sock= is OSError(EBADF), a missing one "no sock was specified".
  bool closed() const noexcept { return closed_ || (cell_ && *cell_ < 0); }
  // Given as an argument at all: open, or closed (then using it is EBADF).
  bool specified() const noexcept { return is_open() || closed(); }
  // OSError(EBADF) "Bad file descriptor" for a closed socket, as Python's calls on one.
  void check_not_closed() const;
  // Closes the fd (idempotent). RuntimeError on a view.
  void close();
  // Gives the fd up without closing it. RuntimeError on a view.
  int detach();

  int family() const;    // SO_DOMAIN
  int type() const;      // SO_TYPE
  int protocol() const;  // SO_PROTOCOL
  bool blocking() const;
  void setblocking(bool blocking);

  SocketAddress getsockname() const;
  SocketAddress getpeername() const;
  void bind(const SocketAddress& address);
  void listen(int backlog);
  void setsockopt(int level, int name, int value);
  int getsockopt(int level, int name) const;
  void shutdown(int how);

  // "<socket.socket fd=6, family=2, type=1, proto=6, laddr=('127.0.0.1', 8080)>", like Python
  // (proto is what the kernel reports, SO_PROTOCOL, not the argument the socket was made with).
  std::string repr() const;

 private:
  void set_fd(int fd) noexcept;  // the owner's fd changes: its tracking views follow

  int fd_ = -1;
  bool owned_ = true;
  bool closed_ = false;
  // Shared with tracking views (made on first tracking_view()): the owner's current fd.
  mutable std::shared_ptr<int> cell_;
};

}  // namespace aio

#endif  // AIO_NET_SOCKET_H_
