#include "net/socket.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "loop/errors.h"

namespace aio {

Socket Socket::create(int family, int type, int protocol) {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw_errno();
  return Socket(fd);
}

std::pair<Socket, Socket> Socket::pair(int family, int type) {
  int fds[2];
  if (::socketpair(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) throw_errno();
  return {Socket(fds[0]), Socket(fds[1])};
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (owned_ && fd_ >= 0) ::close(fd_);
    if (owned_) set_fd(-1);  // views of the replaced socket see it closed
    fd_ = std::exchange(other.fd_, -1);
    owned_ = std::exchange(other.owned_, true);
    closed_ = std::exchange(other.closed_, false);
    cell_ = std::move(other.cell_);
  }
  return *this;
}

Socket::~Socket() {
  if (owned_ && fd_ >= 0) ::close(fd_);
  if (owned_) set_fd(-1);
}

Socket Socket::tracking_view() const {
  if (!owned_ && !cell_) return Socket::view(fd_);  // a view of a plain view
  if (!cell_) cell_ = std::make_shared<int>(fd_);
  Socket view;
  view.owned_ = false;
  view.cell_ = cell_;
  return view;
}

void Socket::set_fd(int fd) noexcept {
  fd_ = fd;
  if (cell_) *cell_ = fd;
}

void Socket::close() {
  if (!owned_) throw RuntimeError("cannot close a transport's socket; close the transport");
  if (fd_ >= 0) ::close(fd_);
  set_fd(-1);
  closed_ = true;
}

int Socket::detach() {
  if (!owned_) throw RuntimeError("cannot detach a transport's socket");
  int fd = fd_;
  set_fd(-1);
  closed_ = true;
  return fd;
}

void Socket::check_not_closed() const {
  if (closed()) throw_os_error(EBADF);
}

int Socket::family() const { return getsockopt(SOL_SOCKET, SO_DOMAIN); }
int Socket::type() const { return getsockopt(SOL_SOCKET, SO_TYPE); }
int Socket::protocol() const { return getsockopt(SOL_SOCKET, SO_PROTOCOL); }

bool Socket::blocking() const {
  int flags = fcntl(fileno(), F_GETFL);
  if (flags < 0) throw_errno();
  return (flags & O_NONBLOCK) == 0;
}

void Socket::setblocking(bool blocking) {
  int flags = fcntl(fileno(), F_GETFL);
  if (flags < 0) throw_errno();
  flags = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
  if (fcntl(fileno(), F_SETFL, flags) != 0) throw_errno();
}

SocketAddress Socket::getsockname() const {
  SocketAddress address;
  socklen_t length = SocketAddress::capacity();
  if (::getsockname(fileno(), address.data(), &length) != 0) throw_errno();
  address.set_size(length);
  return address;
}

SocketAddress Socket::getpeername() const {
  SocketAddress address;
  socklen_t length = SocketAddress::capacity();
  if (::getpeername(fileno(), address.data(), &length) != 0) throw_errno();
  address.set_size(length);
  return address;
}

void Socket::bind(const SocketAddress& address) {
  if (::bind(fileno(), address.data(), address.size()) != 0) throw_errno();
}

void Socket::listen(int backlog) {
  if (::listen(fileno(), backlog) != 0) throw_errno();
}

void Socket::setsockopt(int level, int name, int value) {
  if (::setsockopt(fileno(), level, name, &value, sizeof value) != 0) throw_errno();
}

int Socket::getsockopt(int level, int name) const {
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(fileno(), level, name, &value, &length) != 0) throw_errno();
  return value;
}

void Socket::shutdown(int how) {
  if (::shutdown(fileno(), how) != 0) throw_errno();
}

std::string Socket::repr() const {
  if (fileno() < 0) return "<socket.socket [closed]>";
  std::string text = "<socket.socket fd=" + std::to_string(fileno());
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(fileno(), SOL_SOCKET, SO_DOMAIN, &value, &length) == 0) {
    text += ", family=" + std::to_string(value);
  }
  if (::getsockopt(fileno(), SOL_SOCKET, SO_TYPE, &value, &length) == 0) {
    text += ", type=" + std::to_string(value);
  }
  if (::getsockopt(fileno(), SOL_SOCKET, SO_PROTOCOL, &value, &length) == 0) {
    text += ", proto=" + std::to_string(value);
  }
  // As Python: IP addresses as tuples, UNIX paths bare, unnamed UNIX ends left out.
  auto describe = [](const SocketAddress& address) {
    return address.family() == AF_UNIX ? address.path() : address.to_string();
  };
  SocketAddress address;
  length = SocketAddress::capacity();
  if (::getsockname(fileno(), address.data(), &length) == 0) {
    address.set_size(length);
    if (!describe(address).empty()) text += ", laddr=" + describe(address);
  }
  length = SocketAddress::capacity();
  if (::getpeername(fileno(), address.data(), &length) == 0) {
    address.set_size(length);
    if (!describe(address).empty()) text += ", raddr=" + describe(address);
  }
  return text + ">";
}

}  // namespace aio
