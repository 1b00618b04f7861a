#include "dns/addrinfo.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace aio::dns {
namespace {

class ResolverCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int code) const override { return gai_strerror(code); }
};

}  // namespace

const std::error_category& resolver_category() {
  static const ResolverCategory category;
  return category;
}

ResolverError::ResolverError(int eai_code, int system_errno)
    : OSError(std::error_code(eai_code, resolver_category()),
              eai_code == EAI_SYSTEM && system_errno != 0 ? std::strerror(system_errno)
                                                          : gai_strerror(eai_code)),
      system_errno_(system_errno) {}

std::string AddrInfo::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return text;
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
  inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
  std::string host = text;
  if (in6->sin6_scope_id != 0) host += "%" + std::to_string(in6->sin6_scope_id);
  return host;
}

std::uint16_t AddrInfo::port() const {
  if (family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

bool operator==(const AddrInfo& a, const AddrInfo& b) {
  return a.family == b.family && a.type == b.type && a.protocol == b.protocol &&
         a.canonname == b.canonname && a.address_length == b.address_length &&
         std::memcmp(&a.address, &b.address, a.address_length) == 0;
}

std::vector<AddrInfo> to_entries(const addrinfo* list) {
  std::vector<AddrInfo> entries;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    AddrInfo entry;
    entry.family = ai->ai_family;
    entry.type = ai->ai_socktype;
    entry.protocol = ai->ai_protocol;
    if (ai->ai_canonname != nullptr) entry.canonname = ai->ai_canonname;
    entry.address_length = ai->ai_addrlen;
    std::memcpy(&entry.address, ai->ai_addr, ai->ai_addrlen);
    entries.push_back(entry);
  }
  return entries;
}

}  // namespace aio::dns
