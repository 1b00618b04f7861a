// The numeric fast path of getaddrinfo: IP literals (including scoped IPv6 such as "fe80::1%1")
// and the null host are answered without any lookup, by the C library itself with AI_NUMERICHOST
// (so the answers, their order and the errors are the system's, to the byte). Names return
// nullopt: they go to the resolver. An IPv4 literal asked for as AF_INET6 (or the reverse) is
// not a numeric answer either: it is the system's EAI_ADDRFAMILY error, raised here.
//
// Service names ("http") are looked up in /etc/services, a local file, as the C library does.
#ifndef AIO_DNS_NUMERIC_H_
#define AIO_DNS_NUMERIC_H_

#include <optional>
#include <string>
#include <vector>

#include "dns/addrinfo.h"

namespace aio::dns {

// `host`/`port` may be null (Python's None). Throws ResolverError for what the system rejects
// without a lookup (EAI_FAMILY, EAI_SERVICE, EAI_BADFLAGS, EAI_ADDRFAMILY...).
std::optional<std::vector<AddrInfo>> numeric_getaddrinfo(const char* host, const char* port,
                                                         int family = 0, int type = 0,
                                                         int protocol = 0, int flags = 0);

// RFC 8305 section 4 ordering for Happy Eyeballs: addresses interleaved by family, starting
// with the family of the first entry, whose first `first_family_count` addresses come first.
std::vector<AddrInfo> interleave_address_families(const std::vector<AddrInfo>& entries,
                                                  int first_family_count = 1);

}  // namespace aio::dns

#endif  // AIO_DNS_NUMERIC_H_
