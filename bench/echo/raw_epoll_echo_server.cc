// The floor of the echo comparison: a minimal hand-written epoll echo server.
//
// One thread, level-triggered epoll. A readable connection gets one read() into a 64 KiB buffer
// and one write() of what came in, so a ping-pong message costs epoll_wait + read + write. What
// the socket does not take is kept in the connection's buffer; while anything is buffered the
// connection waits for EPOLLOUT instead of EPOLLIN (backpressure: nothing more is read until the
// peer has taken the rest).
//
//   raw_epoll_echo_server [--host 127.0.0.1] [--port N]     prints "listening on PORT" first
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench/echo/server_args.h"

namespace {

constexpr size_t kReadSize = 64 * 1024;

struct Conn {
  int fd;
  std::vector<char> pending;  // bytes read but not yet written back
  size_t pending_off = 0;
};

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

void set_interest(int ep, Conn* c, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = c;
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl(MOD)");
}

void close_conn(Conn* c) {
  close(c->fd);  // also removes it from the epoll set
  delete c;
}

void accept_all(int ep, int listener) {
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) return;  // retried on the next readiness
      die("accept4");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new Conn{fd};
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl(ADD)");
  }
}

// Writes [data, data+len); returns how much the socket took, or -1 if the connection is dead.
ssize_t write_some(int fd, const char* data, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t w = write(fd, data + done, len - done);
    if (w > 0) {
      done += static_cast<size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return -1;
    }
  }
  return static_cast<ssize_t>(done);
}

// EPOLLIN: one read, echoed at once; any rest is buffered and the connection waits for EPOLLOUT.
void on_readable(int ep, Conn* c, char* buf) {
  ssize_t n = read(c->fd, buf, kReadSize);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    close_conn(c);
    return;
  }
  if (n < 0) return;
  ssize_t w = write_some(c->fd, buf, static_cast<size_t>(n));
  if (w < 0) {
    close_conn(c);
    return;
  }
  if (w < n) {
    c->pending.assign(buf + w, buf + n);
    c->pending_off = 0;
    set_interest(ep, c, EPOLLOUT);
  }
}

// EPOLLOUT: flush the buffer; once empty, go back to reading.
void on_writable(int ep, Conn* c) {
  size_t left = c->pending.size() - c->pending_off;
  ssize_t w = write_some(c->fd, c->pending.data() + c->pending_off, left);
  if (w < 0) {
    close_conn(c);
    return;
  }
  c->pending_off += static_cast<size_t>(w);
  if (c->pending_off == c->pending.size()) {
    c->pending.clear();
    c->pending_off = 0;
    set_interest(ep, c, EPOLLIN);
  }
}

}  // namespace

int main(int argc, char** argv) {
  echo_bench::ServerArgs args = echo_bench::parse_server_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) die("socket");
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(args.port));
  if (inet_pton(AF_INET, args.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad --host %s (IPv4 address expected)\n", args.host.c_str());
    return 2;
  }
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
  if (listen(listener, SOMAXCONN) < 0) die("listen");
  socklen_t len = sizeof addr;
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) < 0) die("getsockname");

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;  // nullptr marks the listener
  if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev) < 0) die("epoll_ctl(listener)");

  echo_bench::announce_port(ntohs(addr.sin_port));

  static char buf[kReadSize];
  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(events[i].data.ptr);
      if (c == nullptr) {
        accept_all(ep, listener);
      } else if (!c->pending.empty()) {
        on_writable(ep, c);  // EPOLLOUT (or EPOLLERR/EPOLLHUP, which the write reports)
      } else {
        on_readable(ep, c, buf);  // EPOLLIN (or EPOLLERR/EPOLLHUP, which the read reports)
      }
    }
  }
}
