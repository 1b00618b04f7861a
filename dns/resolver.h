// DNS on the loop with c-ares: getaddrinfo and getnameinfo that never block the loop.
//
// One c-ares channel per loop, made on first use and destroyed when the loop closes. c-ares
// never runs a thread here: its sockets become the loop's fd watchers and a loop timer drives
// its timeouts. IP literals and null hosts never reach it (the numeric fast path answers them,
// exactly as the C library would). Servers come from /etc/resolv.conf unless set per loop.
#ifndef AIO_DNS_RESOLVER_H_
#define AIO_DNS_RESOLVER_H_

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dns/addrinfo.h"
#include "loop/event_loop.h"
#include "loop/task.h"

namespace aio::dns {

struct ResolverOptions {
  int timeout_ms = 0;  // per try; 0: c-ares' default (or resolv.conf's)
  int tries = 0;       // 0: c-ares' default
};

class Resolver final : public internal::LoopResource {
 public:
  // The loop's resolver, created on first use with `options` (ignored afterwards).
  static Resolver& of(EventLoop& loop, ResolverOptions options = {});

  Resolver(EventLoop& loop, ResolverOptions options);
  ~Resolver() override;
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // "127.0.0.1:5353,[::1]:53": the servers this loop asks (c-ares' CSV form). ValueError if
  // c-ares refuses the list.
  void set_servers(const std::string& servers);

  // loop.getaddrinfo: entries as the C library would give them. `host`/`port` nullopt = None.
  // Errors: ResolverError with the EAI code.
  Coro<std::vector<AddrInfo>> getaddrinfo(std::optional<std::string> host,
                                          std::optional<std::string> port, int family = 0,
                                          int type = 0, int protocol = 0, int flags = 0);

  // loop.getnameinfo: (host, service) for a socket address.
  Coro<std::pair<std::string, std::string>> getnameinfo(const sockaddr* address, socklen_t length,
                                                        int flags = 0);
  // loop.getnameinfo((host, port), flags): `host` must be a numeric address (else ResolverError
  // EAI_NONAME, as socket.getnameinfo); an IPv6 scope may be written "fe80::1%lo".
  Coro<std::pair<std::string, std::string>> getnameinfo(std::string host, std::uint16_t port,
                                                        int flags = 0);
  // The 4-tuple form (host, port, flowinfo, scope_id), for IPv6 only: OSError "IPv4 sockaddr
  // must be 2 tuple" for an IPv4 host, OverflowError for a flowinfo outside 0..0xfffff.
  Coro<std::pair<std::string, std::string>> getnameinfo(std::string host, std::uint16_t port,
                                                        std::int64_t flowinfo,
                                                        std::uint32_t scope_id, int flags = 0);

  // Internal (c-ares callbacks).
  void on_socket_state(int fd, bool readable, bool writable);
  void process(int read_fd, int write_fd);
  void arm_timer();

 private:
  struct Channel;
  EventLoop& loop_;
  Channel* channel_;
  TimerHandle timer_;
};

// The same as Resolver::of(loop).getaddrinfo(...).
inline Coro<std::vector<AddrInfo>> getaddrinfo(EventLoop& loop, std::optional<std::string> host,
                                               std::optional<std::string> port, int family = 0,
                                               int type = 0, int protocol = 0, int flags = 0) {
  return Resolver::of(loop).getaddrinfo(std::move(host), std::move(port), family, type, protocol,
                                        flags);
}

// The same as Resolver::of(loop).getnameinfo(...).
inline Coro<std::pair<std::string, std::string>> getnameinfo(EventLoop& loop,
                                                             const sockaddr* address,
                                                             socklen_t length, int flags = 0) {
  return Resolver::of(loop).getnameinfo(address, length, flags);
}

// The same as Resolver::of(loop).getnameinfo(host, port, ...).
inline Coro<std::pair<std::string, std::string>> getnameinfo(EventLoop& loop, std::string host,
                                                             std::uint16_t port, int flags = 0) {
  return Resolver::of(loop).getnameinfo(std::move(host), port, flags);
}
inline Coro<std::pair<std::string, std::string>> getnameinfo(EventLoop& loop, std::string host,
                                                             std::uint16_t port,
                                                             std::int64_t flowinfo,
                                                             std::uint32_t scope_id,
                                                             int flags = 0) {
  return Resolver::of(loop).getnameinfo(std::move(host), port, flowinfo, scope_id, flags);
}

// The EAI code the C library gives for a c-ares status.
int eai_from_ares(int ares_status);

}  // namespace aio::dns

#endif  // AIO_DNS_RESOLVER_H_
