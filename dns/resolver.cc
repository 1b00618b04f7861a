#include "dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>
#include <memory>
#include <mutex>

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

struct NameInfoQuery {
  Resolver* resolver;
  Future<std::pair<std::string, std::string>> future;
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
  std::vector<AddrInfo> entries;
  std::vector<std::string> seen;
  for (const ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
    if (node->ai_family != AF_INET && node->ai_family != AF_INET6) continue;
    std::string literal = literal_of(node);
    bool duplicate = false;
    for (const std::string& s : seen) duplicate |= s == literal;
    if (duplicate) continue;
    seen.push_back(literal);
    std::optional<std::vector<AddrInfo>> shaped = numeric_getaddrinfo(
        literal.c_str(), query.port ? query.port->c_str() : nullptr, node->ai_family, query.type,
        query.protocol, query.flags & ~(AI_CANONNAME | AI_PASSIVE));
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

void on_nameinfo(void* arg, int status, int /*timeouts*/, char* node, char* service) {
  std::unique_ptr<NameInfoQuery> query(static_cast<NameInfoQuery*>(arg));
  if (status == ARES_EDESTRUCTION || query->future.done()) return;
  if (status != ARES_SUCCESS) {
    query->future.set_exception(ResolverError(eai_from_ares(status)));
    return;
  }
  query->future.set_result(
      std::make_pair(std::string(node ? node : ""), std::string(service ? service : "")));
}

void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
  static_cast<Resolver*>(data)->on_socket_state(fd, readable != 0, writable != 0);
}

}  // namespace

int eai_from_ares(int status) {
  switch (status) {
    case ARES_SUCCESS:
      return 0;
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
    case ARES_EBADNAME:
    case ARES_ENODATA:
    case ARES_ECONNREFUSED:  // as glibc reports a refused server here: "Name or service not known"
      return EAI_NONAME;
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
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
    throw ResolverError(EAI_FAMILY);
  }
  auto* query = new AddrInfoQuery{
      this, loop_.create_future<std::vector<AddrInfo>>(), port, family, type, protocol, flags};
  Future<std::vector<AddrInfo>> result = query->future;
  ares_addrinfo_hints hints{};
  hints.ai_family = family;
  hints.ai_flags = (flags & AI_CANONNAME) ? ARES_AI_CANONNAME : 0;
  // The service is applied afterwards, by the C library, so ask c-ares for addresses only.
  ares_getaddrinfo(channel_->channel, host->c_str(), nullptr, &hints, &on_addrinfo, query);
  arm_timer();
  co_return co_await result;
}

Coro<std::pair<std::string, std::string>> Resolver::getnameinfo(const sockaddr* address,
                                                                socklen_t length, int flags) {
  int ares_flags = ARES_NI_LOOKUPHOST | ARES_NI_LOOKUPSERVICE;
  if (flags & NI_NUMERICHOST) ares_flags |= ARES_NI_NUMERICHOST;
  if (flags & NI_NUMERICSERV) ares_flags |= ARES_NI_NUMERICSERV;
  if (flags & NI_NAMEREQD) ares_flags |= ARES_NI_NAMEREQD;
  if (flags & NI_NOFQDN) ares_flags |= ARES_NI_NOFQDN;
  if (flags & NI_DGRAM) ares_flags |= ARES_NI_DGRAM;
  auto* query = new NameInfoQuery{this, loop_.create_future<std::pair<std::string, std::string>>()};
  Future<std::pair<std::string, std::string>> result = query->future;
  ares_getnameinfo(channel_->channel, address, static_cast<ares_socklen_t>(length), ares_flags,
                   &on_nameinfo, query);
  arm_timer();
  co_return co_await result;
}

}  // namespace aio::dns
