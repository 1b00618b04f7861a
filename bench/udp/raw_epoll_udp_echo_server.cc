// The floor of the UDP echo comparison: a minimal hand-written epoll UDP echo server.
//
// One thread, one unconnected UDP socket, level-triggered epoll. A readable event gets up to
// --batch recvfrom() calls (default 1: the shape of aio's and asyncio's datagram transport,
// one datagram per readiness), each datagram sent straight back to its sender with sendto().
// With --batch N > 1 it drains up to N datagrams per wake-up and stops at EAGAIN (libuv reads
// up to 32 that way). A datagram the kernel cannot take (EAGAIN on sendto) is dropped, as a
// UDP server may; the generator would count it lost.
//
//   raw_epoll_udp_echo_server [--host 127.0.0.1] [--port N] [--batch N]
//   prints "listening on PORT" first
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "bench/udp/udp_server_args.h"

namespace {

constexpr size_t kMaxDatagram = 64 * 1024;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  udp_bench::ServerArgs args = udp_bench::parse_server_args(argc, argv, /*allow_batch=*/true);
  signal(SIGPIPE, SIG_IGN);

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(args.port));
  if (inet_pton(AF_INET, args.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad --host %s (IPv4 address expected)\n", args.host.c_str());
    return 2;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) die("getsockname");

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");

  udp_bench::announce_port(ntohs(addr.sin_port));

  static char buf[kMaxDatagram];
  epoll_event events[8];
  for (;;) {
    int n = epoll_wait(ep, events, 8, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    if (n == 0) continue;
    for (int i = 0; i < args.batch; ++i) {
      sockaddr_storage peer;
      socklen_t peer_len = sizeof peer;
      ssize_t got = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        continue;  // e.g. ECONNREFUSED reported for an earlier sendto: not fatal for UDP
      }
      ssize_t sent = sendto(fd, buf, static_cast<size_t>(got), 0,
                            reinterpret_cast<sockaddr*>(&peer), peer_len);
      (void)sent;  // EAGAIN or an ICMP error: the datagram is lost, the client will notice
    }
  }
}
