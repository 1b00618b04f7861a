#include "dns/numeric.h"

#include <netdb.h>

#include <deque>
#include <memory>

namespace aio::dns {

std::optional<std::vector<AddrInfo>> numeric_getaddrinfo(const char* host, const char* port,
                                                         int family, int type, int protocol,
                                                         int flags) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = type;
  hints.ai_protocol = protocol;
  hints.ai_flags = flags | AI_NUMERICHOST;
  addrinfo* list = nullptr;
  int err = ::getaddrinfo(host, port, &hints, &list);
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(list, freeaddrinfo);
  if (err == 0) return to_entries(list);
  // Not a literal: a name for the resolver. (AI_NUMERICHOST makes the C library answer
  // EAI_NONAME for any name without looking it up.)
  if (err == EAI_NONAME && host != nullptr && (flags & AI_NUMERICHOST) == 0) return std::nullopt;
  throw ResolverError(err, err == EAI_SYSTEM ? errno : 0);
}

std::vector<AddrInfo> interleave_address_families(const std::vector<AddrInfo>& entries,
                                                  int first_family_count) {
  if (entries.empty()) return {};
  std::deque<AddrInfo> first, second;
  int first_family = entries.front().family;
  for (const AddrInfo& entry : entries)
    (entry.family == first_family ? first : second).push_back(entry);
  std::vector<AddrInfo> ordered;
  for (int i = 0; i < first_family_count - 1 && !first.empty(); ++i) {
    ordered.push_back(first.front());
    first.pop_front();
  }
  while (!first.empty() || !second.empty()) {
    if (!first.empty()) {
      ordered.push_back(first.front());
      first.pop_front();
    }
    if (!second.empty()) {
      ordered.push_back(second.front());
      second.pop_front();
    }
  }
  return ordered;
}

}  // namespace aio::dns
