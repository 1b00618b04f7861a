#include "net/address.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

#include "loop/errors.h"

namespace aio {

SocketAddress SocketAddress::from(const sockaddr* address, socklen_t length) {
  if (length > capacity()) throw ValueError("socket address too long");
  SocketAddress result;
  std::memcpy(&result.storage_, address, length);
  result.size_ = length;
  return result;
}

SocketAddress SocketAddress::ipv4(std::string_view host, std::uint16_t port) {
  SocketAddress result;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage_);
  v4->sin_family = AF_INET;
  v4->sin_port = htons(port);
  if (inet_pton(AF_INET, std::string(host).c_str(), &v4->sin_addr) != 1) {
    throw ValueError("not an IPv4 address: '" + std::string(host) + "'");
  }
  result.size_ = sizeof(sockaddr_in);
  return result;
}

SocketAddress SocketAddress::ipv6(std::string_view host, std::uint16_t port, std::uint32_t flowinfo,
                                  std::uint32_t scope_id) {
  SocketAddress result;
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage_);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  v6->sin6_flowinfo = htonl(flowinfo);
  v6->sin6_scope_id = scope_id;
  std::string text(host);
  if (std::size_t percent = text.find('%'); percent != std::string::npos) {
    std::string scope = text.substr(percent + 1);
    text.resize(percent);
    char* end = nullptr;
    unsigned long number = std::strtoul(scope.c_str(), &end, 10);
    v6->sin6_scope_id = !scope.empty() && *end == '\0' ? static_cast<std::uint32_t>(number)
                                                       : if_nametoindex(scope.c_str());
    if (v6->sin6_scope_id == 0) throw ValueError("unknown IPv6 scope: '" + scope + "'");
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) != 1) {
    throw ValueError("not an IPv6 address: '" + std::string(host) + "'");
  }
  result.size_ = sizeof(sockaddr_in6);
  return result;
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
  SocketAddress result;
  auto* un = reinterpret_cast<sockaddr_un*>(&result.storage_);
  if (path.size() >= sizeof un->sun_path + (!path.empty() && path[0] == '\0' ? 1 : 0)) {
    throw ValueError("AF_UNIX path too long");
  }
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  // Abstract names count exactly; paths include their terminating NUL.
  result.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                        (!path.empty() && path[0] == '\0' ? 0 : 1));
  return result;
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  switch (family()) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
                sizeof text);
      return text;
    case AF_INET6: {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
      std::string result = text;
      if (v6->sin6_scope_id != 0 && IN6_IS_ADDR_LINKLOCAL(&v6->sin6_addr)) {
        result += "%" + std::to_string(v6->sin6_scope_id);
      }
      return result;
    }
    case AF_UNIX:
      return path();
    default:
      return "";
  }
}

std::uint16_t SocketAddress::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

std::uint32_t SocketAddress::flowinfo() const noexcept {
  return family() == AF_INET6
             ? ntohl(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_flowinfo)
             : 0;
}

std::uint32_t SocketAddress::scope_id() const noexcept {
  return family() == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_scope_id : 0;
}

std::string SocketAddress::path() const {
  if (family() != AF_UNIX) return "";
  const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
  std::size_t offset = offsetof(sockaddr_un, sun_path);
  if (size_ <= offset) return "";
  std::size_t length = size_ - offset;
  if (un->sun_path[0] == '\0') return std::string(un->sun_path, length);  // abstract
  return std::string(un->sun_path, strnlen(un->sun_path, length));
}

bool SocketAddress::is_abstract() const noexcept {
  return family() == AF_UNIX && size_ > offsetof(sockaddr_un, sun_path) &&
         reinterpret_cast<const sockaddr_un*>(&storage_)->sun_path[0] == '\0';
}

std::string SocketAddress::to_string() const {
  switch (family()) {
    case AF_INET:
      return "('" + host() + "', " + std::to_string(port()) + ")";
    case AF_INET6:
      return "('" + host() + "', " + std::to_string(port()) + ", " + std::to_string(flowinfo()) +
             ", " + std::to_string(scope_id()) + ")";
    case AF_UNIX: {
      std::string text = path();
      if (is_abstract()) return "b'\\x00" + text.substr(1) + "'";
      return "'" + text + "'";
    }
    default:
      return "None";
  }
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
  return a.size_ == b.size_ && std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
}

}  // namespace aio
