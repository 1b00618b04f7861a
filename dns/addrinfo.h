// What getaddrinfo answers with, and the resolver's error type.
//
// AddrInfo is one (family, type, proto, canonname, sockaddr) entry, as Python's
// socket.getaddrinfo() returns them. ResolverError is Python's socket.gaierror: it carries the
// EAI_* code in its own std::error_category ("getaddrinfo"), with the C library's message.
#ifndef AIO_DNS_ADDRINFO_H_
#define AIO_DNS_ADDRINFO_H_

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "loop/errors.h"

namespace aio::dns {

struct AddrInfo {
  int family = 0;    // AF_INET, AF_INET6
  int type = 0;      // SOCK_STREAM, SOCK_DGRAM, SOCK_RAW
  int protocol = 0;  // IPPROTO_TCP, IPPROTO_UDP, 0
  std::string canonname;
  sockaddr_storage address{};
  socklen_t address_length = 0;

  // "127.0.0.1", "::1", "fe80::1%1" (scope id as a number, as Python prints it).
  std::string host() const;
  std::uint16_t port() const;

  friend bool operator==(const AddrInfo& a, const AddrInfo& b);
};

// The "getaddrinfo" error category: codes are EAI_* values (negative on glibc), messages are
// gai_strerror()'s.
const std::error_category& resolver_category();

// socket.gaierror, an OSError as in Python (catch aio::OSError for both): what() is the C library's
// message ("Name or service not known"); code() is {EAI_*, resolver_category()}. For EAI_SYSTEM the
// errno is kept in system_errno().
class ResolverError : public OSError {
 public:
  explicit ResolverError(int eai_code, int system_errno = 0);
  int eai_code() const noexcept { return code().value(); }
  int system_errno() const noexcept { return system_errno_; }

 private:
  int system_errno_;
};

// Converts a C library addrinfo list (owned by the caller) into entries, in order.
std::vector<AddrInfo> to_entries(const addrinfo* list);

}  // namespace aio::dns

#endif  // AIO_DNS_ADDRINFO_H_
