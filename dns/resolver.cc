#include "dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "dns/numeric.h"

namespace aio::dns {

struct Resolver::Channel {
  ares_channel channel = nullptr;
};

namespace {

// The key of the per-loop service (its address is what matters).
const char kResolverKey = 0;

void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

struct AddrInfoQuery {
  Resolver* resolver;
  Future<std::vector<AddrInfo>> future;
  std::optional<std::string> port;
  int family, type, protocol, flags;
};

// AI_ADDRCONFIG as the C library decides it, once per lookup: which families have an address
// configured that is not the loopback one (127.0.0.1, ::1 are not counted). In a namespace that
// has only loopback neither has, and then the C library does not narrow an AF_UNSPEC lookup at
// all (while an AF_INET or AF_INET6 one finds nothing).
struct ConfiguredFamilies {
  bool ipv4 = false;
  bool ipv6 = false;
};

ConfiguredFamilies configured_families() {
  ConfiguredFamilies seen;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return {true, true};  // unknown: narrow nothing
  for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    if (entry->ifa_addr->sa_family == AF_INET) {
      auto* in = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      seen.ipv4 |= in->sin_addr.s_addr != htonl(INADDR_LOOPBACK);
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      auto* in6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      seen.ipv6 |= !IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
  }
  ::freeifaddrs(list);
  return seen;
}

// A PTR lookup: the name, or nullopt when the address has none.
struct NameQuery {
  Future<std::optional<std::string>> future;
};

std::string literal_of(const ares_addrinfo_node* node) {
  char text[INET6_ADDRSTRLEN] = {};
  if (node->ai_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(node->ai_addr)->sin_addr, text,
              sizeof text);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(node->ai_addr)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

// c-ares found addresses; the entries are built as the C library builds them for a literal
// (socket types, protocols, ports, service names), so they have the system's shape.
std::vector<AddrInfo> entries_from(const ares_addrinfo* result, const AddrInfoQuery& query) {
  // AI_V4MAPPED (asked of c-ares as AF_UNSPEC): IPv4 answers become ::ffff:a.b.c.d, all of
  // them with AI_ALL, otherwise only when there is no IPv6 answer, as the C library does.
  bool mapped = query.family == AF_INET6 && (query.flags & AI_V4MAPPED);
  bool any_v6 = false;
  for (const ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
    any_v6 |= node->ai_family == AF_INET6;
  }
  std::vector<AddrInfo> entries;
  std::vector<std::string> seen;
  for (const ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
    if (node->ai_family != AF_INET && node->ai_family != AF_INET6) continue;
    std::string literal = literal_of(node);
    int family = node->ai_family;
    if (mapped && family == AF_INET) {
      if (any_v6 && !(query.flags & AI_ALL)) continue;
      literal = "::ffff:" + literal;
      family = AF_INET6;
    }
    bool duplicate = false;
    for (const std::string& s : seen) duplicate |= s == literal;
    if (duplicate) continue;
    seen.push_back(literal);
    // AI_ADDRCONFIG was applied to the whole lookup already (per literal, the C library would
    // judge each address's family on its own and drop all of them in a loopback-only host).
    std::optional<std::vector<AddrInfo>> shaped = numeric_getaddrinfo(
        literal.c_str(), query.port ? query.port->c_str() : nullptr, family, query.type,
        query.protocol,
        query.flags & ~(AI_CANONNAME | AI_PASSIVE | AI_V4MAPPED | AI_ALL | AI_ADDRCONFIG));
    if (shaped) entries.insert(entries.end(), shaped->begin(), shaped->end());
  }
  if ((query.flags & AI_CANONNAME) && !entries.empty()) {
    const ares_addrinfo_cname* last = result->cnames;
    while (last != nullptr && last->next != nullptr) last = last->next;
    entries.front().canonname = last != nullptr && last->name != nullptr ? last->name
                                : result->name != nullptr                ? result->name
                                                                         : "";
  }
  return entries;
}

void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  std::unique_ptr<AddrInfoQuery> query(static_cast<AddrInfoQuery*>(arg));
  std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> owned(result, ares_freeaddrinfo);
  // The channel is being destroyed with the loop: nobody can be resumed any more.
  if (status == ARES_EDESTRUCTION) return;
  if (query->future.done()) return;  // the awaiting task was cancelled meanwhile
  try {
    if (status != ARES_SUCCESS) throw ResolverError(eai_from_ares(status));
    std::vector<AddrInfo> entries = entries_from(result, *query);
    if (entries.empty()) throw ResolverError(EAI_NONAME);
    query->future.set_result(std::move(entries));
  } catch (...) {
    query->future.set_exception(std::current_exception());
  }
}

void on_ptr_reply(void* arg, int status, int /*timeouts*/, unsigned char* answer, int length) {
  std::unique_ptr<NameQuery> query(static_cast<NameQuery*>(arg));
  if (status == ARES_EDESTRUCTION || query->future.done()) return;
  if (status == ARES_SUCCESS) {
    hostent* entry = nullptr;
    if (ares_parse_ptr_reply(answer, length, nullptr, 0, AF_INET, &entry) == ARES_SUCCESS &&
        entry != nullptr && entry->h_name != nullptr) {
      query->future.set_result(std::string(entry->h_name));
    } else {
      query->future.set_result(std::nullopt);
    }
    if (entry != nullptr) ares_free_hostent(entry);
  } else if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
    query->future.set_result(std::nullopt);  // no name: the C library falls back to numeric
  } else {
    // A server that failed, refused or never answered: the C library says "try again" rather
    // than falling back to the numeric form (c-ares' own getnameinfo would fall back).
    query->future.set_exception(ResolverError(EAI_AGAIN));
  }
}

// The reverse-lookup name of an address: "4.3.2.1.in-addr.arpa" or the ip6.arpa nibbles.
std::string reverse_name(int family, const unsigned char* bytes) {
  std::string name;
  if (family == AF_INET) {
    for (int i = 3; i >= 0; --i) name += std::to_string(bytes[i]) + ".";
    return name + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    name += kHex[bytes[i] & 0xf];
    name += '.';
    name += kHex[bytes[i] >> 4];
    name += '.';
  }
  return name + "ip6.arpa";
}

// The first name /etc/hosts gives the address, as nsswitch's "files" source answers first.
std::optional<std::string> hosts_file_name(int family, const unsigned char* bytes) {
  std::ifstream hosts("/etc/hosts");
  std::string line;
  while (std::getline(hosts, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    std::string address, name;
    if (!(fields >> address >> name)) continue;
    unsigned char parsed[sizeof(in6_addr)] = {};
    if (inet_pton(family, address.c_str(), parsed) == 1 &&
        std::memcmp(parsed, bytes, family == AF_INET ? 4 : 16) == 0) {
      return name;
    }
  }
  return std::nullopt;
}

// NI_NOFQDN as the C library does it: a name inside this host's own domain (what follows the
// first dot of gethostname()) loses that domain.
std::string without_local_domain(const std::string& name) {
  char self[256] = {};
  if (gethostname(self, sizeof self - 1) != 0) return name;
  const char* dot = std::strchr(self, '.');
  if (dot == nullptr) return name;
  std::string suffix = dot;  // ".example.org"
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
  static_cast<Resolver*>(data)->on_socket_state(fd, readable != 0, writable != 0);
}

}  // namespace

int eai_from_ares(int status) {
  switch (status) {
    case ARES_SUCCESS:
      return 0;
    case ARES_ENODATA:  // the name exists without an address of the family asked for
      return EAI_NODATA;
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
    case ARES_EBADNAME:
      return EAI_NONAME;
    case ARES_ECONNREFUSED:  // a server that refused the query (REFUSED) or was unreachable
    case ARES_ETIMEOUT:
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
      return EAI_AGAIN;
    case ARES_EBADFAMILY:
      return EAI_FAMILY;
    case ARES_ESERVICE:
      return EAI_SERVICE;
    case ARES_EBADFLAGS:
    case ARES_EBADHINTS:
      return EAI_BADFLAGS;
    case ARES_ENOMEM:
      return EAI_MEMORY;
    default:
      return EAI_FAIL;
  }
}

Resolver& Resolver::of(EventLoop& loop, ResolverOptions options) {
  loop.check_closed();
  if (auto* existing = static_cast<Resolver*>(loop.extension(&kResolverKey))) return *existing;
  auto resolver = std::make_unique<Resolver>(loop, options);
  Resolver& result = *resolver;
  loop.set_extension(&kResolverKey, std::move(resolver));
  return result;
}

Resolver::Resolver(EventLoop& loop, ResolverOptions options) : loop_(loop), channel_(new Channel) {
  init_library_once();
  ares_options ares{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;
  ares.sock_state_cb = &dns::on_socket_state;
  ares.sock_state_cb_data = this;
  char lookups[] = "fb";  // /etc/hosts first, then DNS, as nsswitch's "files dns"
  ares.lookups = lookups;
  if (options.timeout_ms > 0) {
    mask |= ARES_OPT_TIMEOUTMS;
    ares.timeout = options.timeout_ms;
  }
  if (options.tries > 0) {
    mask |= ARES_OPT_TRIES;
    ares.tries = options.tries;
  }
  int status = ares_init_options(&channel_->channel, &ares, mask);
  if (status != ARES_SUCCESS) {
    delete channel_;
    throw RuntimeError(std::string("c-ares channel: ") + ares_strerror(status));
  }
}

Resolver::~Resolver() {
  timer_.cancel();
  ares_destroy(channel_->channel);  // pending queries end with ARES_EDESTRUCTION
  delete channel_;
}

void Resolver::set_servers(const std::string& servers) {
  int status = ares_set_servers_ports_csv(channel_->channel, servers.c_str());
  if (status != ARES_SUCCESS) {
    throw ValueError("invalid DNS servers '" + servers + "': " + ares_strerror(status));
  }
}

void Resolver::on_socket_state(int fd, bool readable, bool writable) {
  if (readable) {
    loop_.add_reader(fd, [this, fd] { process(fd, ARES_SOCKET_BAD); });
  } else {
    loop_.remove_reader(fd);
  }
  if (writable) {
    loop_.add_writer(fd, [this, fd] { process(ARES_SOCKET_BAD, fd); });
  } else {
    loop_.remove_writer(fd);
  }
}

void Resolver::process(int read_fd, int write_fd) {
  ares_process_fd(channel_->channel, read_fd, write_fd);
  arm_timer();
}

void Resolver::arm_timer() {
  timer_.cancel();
  timeval next{};
  if (ares_timeout(channel_->channel, nullptr, &next) == nullptr) return;  // nothing pending
  double delay = static_cast<double>(next.tv_sec) + static_cast<double>(next.tv_usec) * 1e-6;
  timer_ = loop_.call_later(delay, [this] { process(ARES_SOCKET_BAD, ARES_SOCKET_BAD); });
}

Coro<std::vector<AddrInfo>> Resolver::getaddrinfo(std::optional<std::string> host,
                                                  std::optional<std::string> port, int family,
                                                  int type, int protocol, int flags) {
  // Literals and null hosts: the C library answers without any lookup.
  if (auto numeric =
          numeric_getaddrinfo(host ? host->c_str() : nullptr, port ? port->c_str() : nullptr,
                              family, type, protocol, flags)) {
    co_return std::move(*numeric);
  }
  // The C library rejects a bad service, socket type or flag before any lookup: shaping a
  // placeholder literal of the family raises exactly its error (EAI_SERVICE, EAI_SOCKTYPE...).
  numeric_getaddrinfo(family == AF_INET6 ? "::" : "0.0.0.0", port ? port->c_str() : nullptr,
                      family == AF_INET6 ? AF_INET6 : family, type, protocol,
                      flags & ~(AI_CANONNAME | AI_V4MAPPED | AI_ALL | AI_ADDRCONFIG));
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
    throw ResolverError(EAI_FAMILY);
  }
  if (host->empty()) throw ResolverError(EAI_NONAME);  // the C library never looks "" up
  if (flags & AI_ADDRCONFIG) {
    ConfiguredFamilies seen = configured_families();
    if (family == AF_UNSPEC && seen.ipv4 != seen.ipv6) {
      family = seen.ipv4 ? AF_INET : AF_INET6;
    } else if ((family == AF_INET && !seen.ipv4) || (family == AF_INET6 && !seen.ipv6)) {
      throw ResolverError(EAI_NONAME);  // no address of that family could be used
    }
  }
  auto* query = new AddrInfoQuery{
      this, loop_.create_future<std::vector<AddrInfo>>(), port, family, type, protocol, flags};
  Future<std::vector<AddrInfo>> result = query->future;
  ares_addrinfo_hints hints{};
  // c-ares 1.18 does not map IPv4 answers itself: ask for both families and map them above.
  hints.ai_family = family == AF_INET6 && (flags & AI_V4MAPPED) ? AF_UNSPEC : family;
  hints.ai_flags = (flags & AI_CANONNAME) ? ARES_AI_CANONNAME : 0;
  // The service is applied afterwards, by the C library, so ask c-ares for addresses only.
  ares_getaddrinfo(channel_->channel, host->c_str(), nullptr, &hints, &on_addrinfo, query);
  arm_timer();
  co_return co_await result;
}

Coro<std::pair<std::string, std::string>> Resolver::getnameinfo(const sockaddr* address,
                                                                socklen_t length, int flags) {
  // The service, the numeric host and every validation error come from the C library itself
  // (it does no lookup with NI_NUMERICHOST); only the PTR lookup goes through c-ares.
  char host[NI_MAXHOST] = {}, service[NI_MAXSERV] = {};
  int numeric_flags = (flags & NI_NUMERICHOST) ? flags : (flags & ~NI_NAMEREQD) | NI_NUMERICHOST;
  int error =
      ::getnameinfo(address, length, host, sizeof host, service, sizeof service, numeric_flags);
  if (error != 0) throw ResolverError(error, error == EAI_SYSTEM ? errno : 0);
  if (flags & NI_NUMERICHOST) co_return std::make_pair(std::string(host), std::string(service));

  const unsigned char* bytes = nullptr;
  int family = address->sa_family;
  if (family == AF_INET) {
    bytes = reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in*>(address)->sin_addr);
  } else if (family == AF_INET6) {
    bytes = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr;
  } else {
    throw ResolverError(EAI_FAMILY);
  }
  std::optional<std::string> name = hosts_file_name(family, bytes);
  if (!name) {
    // As the C library's DNS lookup: a v4-mapped (::ffff:a.b.c.d) or v4-compatible (::a.b.c.d,
    // but not ::1) address is looked up as the IPv4 address.
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static constexpr unsigned char kZeros[12] = {};
    static constexpr unsigned char kOne[4] = {0, 0, 0, 1};
    if (family == AF_INET6 &&
        (std::memcmp(bytes, kMapped, 12) == 0 ||
         (std::memcmp(bytes, kZeros, 12) == 0 && std::memcmp(bytes + 12, kOne, 4) != 0))) {
      bytes += 12;
      family = AF_INET;
    }
    auto* query = new NameQuery{loop_.create_future<std::optional<std::string>>()};
    Future<std::optional<std::string>> lookup = query->future;
    ares_query(channel_->channel, reverse_name(family, bytes).c_str(), 1 /* C_IN */, 12 /* T_PTR */,
               &on_ptr_reply, query);
    arm_timer();
    name = co_await lookup;
  }
  if (!name) {
    if (flags & NI_NAMEREQD) throw ResolverError(EAI_NONAME);
    co_return std::make_pair(std::string(host), std::string(service));
  }
  if (flags & NI_NOFQDN) *name = without_local_domain(*name);
  co_return std::make_pair(std::move(*name), std::string(service));
}

namespace {

// socket.getnameinfo's argument parsing: the numeric host and port as one socket address, with
// the C library's own errors (no lookup: AI_NUMERICHOST).
struct NumericAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

NumericAddress numeric_address(const std::string& host, std::uint16_t port,
                               std::optional<std::pair<std::int64_t, std::uint32_t>> ipv6_extra) {
  if (ipv6_extra && (ipv6_extra->first < 0 || ipv6_extra->first > 0xfffff)) {
    throw OverflowError("getnameinfo(): flowinfo must be 0-1048575.");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  int error = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (error != 0) throw ResolverError(error, error == EAI_SYSTEM ? errno : 0);
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(list, &::freeaddrinfo);
  if (list->ai_next != nullptr) throw OSError(0, "sockaddr resolved to multiple addresses", true);
  NumericAddress address;
  std::memcpy(&address.storage, list->ai_addr, list->ai_addrlen);
  address.length = list->ai_addrlen;
  if (list->ai_family == AF_INET && ipv6_extra) {
    throw OSError(0, "IPv4 sockaddr must be 2 tuple", true);
  }
  if (list->ai_family == AF_INET6 && ipv6_extra) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    in6->sin6_flowinfo = htonl(static_cast<std::uint32_t>(ipv6_extra->first));
    in6->sin6_scope_id = ipv6_extra->second;
  }
  return address;
}

}  // namespace

Coro<std::pair<std::string, std::string>> Resolver::getnameinfo(std::string host,
                                                                std::uint16_t port, int flags) {
  NumericAddress address = numeric_address(host, port, std::nullopt);
  co_return co_await getnameinfo(reinterpret_cast<const sockaddr*>(&address.storage),
                                 address.length, flags);
}

Coro<std::pair<std::string, std::string>> Resolver::getnameinfo(std::string host,
                                                                std::uint16_t port,
                                                                std::int64_t flowinfo,
                                                                std::uint32_t scope_id, int flags) {
  NumericAddress address = numeric_address(host, port, std::make_pair(flowinfo, scope_id));
  co_return co_await getnameinfo(reinterpret_cast<const sockaddr*>(&address.storage),
                                 address.length, flags);
}

}  // namespace aio::dns
