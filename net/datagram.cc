#include "net/datagram.h"

#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <vector>

#include "dns/resolver.h"
#include "loop/errors.h"
#include "loop/logging.h"
#include "net/sock_ops.h"

namespace aio {
namespace {

// One (family, proto) with the local and remote addresses found for it (asyncio's
// addr_pairs_info).
struct AddressPair {
  int family = 0;
  int proto = 0;
  std::optional<SocketAddress> local, remote;
};

std::string option_problems(const DatagramOptions& options) {
  std::vector<std::string> problems;
  // Python's repr: a (host, port) tuple, or a UNIX path (no second part) as a string.
  auto pair_text = [](const std::pair<std::string, std::string>& address) {
    if (address.second.empty()) return "'" + address.first + "'";
    return "('" + address.first + "', " + address.second + ")";
  };
  if (options.local_addr) problems.push_back("local_addr=" + pair_text(*options.local_addr));
  if (options.remote_addr) problems.push_back("remote_addr=" + pair_text(*options.remote_addr));
  if (options.family) problems.push_back("family=" + std::to_string(options.family));
  if (options.proto) problems.push_back("proto=" + std::to_string(options.proto));
  if (options.flags) problems.push_back("flags=" + std::to_string(options.flags));
  if (options.reuse_address.value_or(false)) problems.push_back("reuse_address=True");
  if (options.reuse_port) problems.push_back("reuse_port=True");
  if (options.allow_broadcast) problems.push_back("allow_broadcast=True");
  std::string text;
  for (const std::string& problem : problems) text += (text.empty() ? "" : ", ") + problem;
  return text;
}

Coro<std::vector<AddressPair>> resolve_pairs(EventLoop& loop, DatagramOptions& options) {
  if (options.family == AF_UNIX) {
    // asyncio tests `if local_addr`: an empty path is no path (binding "" would autobind).
    if (options.local_addr && options.local_addr->first.empty()) options.local_addr.reset();
    if (options.remote_addr && options.remote_addr->first.empty()) options.remote_addr.reset();
  }
  if (!options.local_addr && !options.remote_addr) {
    if (options.family == AF_UNSPEC) throw ValueError("unexpected address family");
    co_return std::vector<AddressPair>{AddressPair{options.family, options.proto, {}, {}}};
  }
  if (options.family == AF_UNIX) {
    AddressPair pair{AF_UNIX, options.proto, {}, {}};
    if (options.local_addr) {
      const std::string& path = options.local_addr->first;
      if (!path.empty() && path[0] != '\0') {
        // A stale socket file is replaced, as asyncio does (a regular file stays: bind fails).
        struct stat info{};
        if (::stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) ::unlink(path.c_str());
      }
      pair.local = SocketAddress::unix_path(path);
    }
    if (options.remote_addr) pair.remote = SocketAddress::unix_path(options.remote_addr->first);
    co_return std::vector<AddressPair>{pair};
  }
  // Addresses grouped by (family, proto), in the order getaddrinfo gave them.
  std::vector<AddressPair> pairs;
  for (int index : {0, 1}) {
    const auto& address = index == 0 ? options.local_addr : options.remote_addr;
    if (!address) continue;
    std::vector<dns::AddrInfo> entries = co_await dns::getaddrinfo(
        loop, address->first.empty() ? std::nullopt : std::optional<std::string>(address->first),
        address->second, options.family, SOCK_DGRAM, options.proto, options.flags);
    if (entries.empty()) throw OSError(0, "getaddrinfo() returned empty list", true);
    for (const dns::AddrInfo& entry : entries) {
      AddressPair* pair = nullptr;
      for (AddressPair& existing : pairs) {
        if (existing.family == entry.family && existing.proto == entry.protocol) pair = &existing;
      }
      if (pair == nullptr)
        pair = &pairs.emplace_back(AddressPair{entry.family, entry.protocol, {}, {}});
      auto& slot = index == 0 ? pair->local : pair->remote;
      if (!slot) {
        slot = SocketAddress::from(reinterpret_cast<const sockaddr*>(&entry.address),
                                   entry.address_length);
      }
    }
  }
  std::vector<AddressPair> complete;
  for (AddressPair& pair : pairs) {
    if ((options.local_addr && !pair.local) || (options.remote_addr && !pair.remote)) continue;
    complete.push_back(std::move(pair));
  }
  if (complete.empty()) throw ValueError("can not get address information");
  co_return complete;
}

}  // namespace

Coro<DatagramEndpoint> create_datagram_endpoint(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory,
    DatagramOptions options) {
  loop.check_closed();
  Socket sock;
  std::optional<SocketAddress> remote;
  if (options.sock.specified()) {
    options.sock.check_not_closed();
    if (options.sock.type() != SOCK_DGRAM) {
      throw ValueError("A UDP Socket was expected, got " + options.sock.repr());
    }
    std::string problems = option_problems(options);
    if (!problems.empty()) {
      throw ValueError(
          "socket modifier keyword arguments can not be used when sock is specified. (" + problems +
          ")");
    }
    sock = std::move(options.sock);
    sock.setblocking(false);
    // A connected socket (e.g. one end of a socketpair) keeps its peer.
    SocketAddress peer;
    socklen_t length = SocketAddress::capacity();
    if (::getpeername(sock.fileno(), peer.data(), &length) == 0) {
      peer.set_size(length);
      remote = peer;
    }
  } else {
    if (options.reuse_address.value_or(false)) {
      throw ValueError(
          "Passing `reuse_address=True` is no longer supported, as the usage of SO_REUSEPORT in "
          "UDP poses a significant security concern.");
    }
    std::vector<AddressPair> pairs = co_await resolve_pairs(loop, options);
    std::exception_ptr first_error;
    for (AddressPair& pair : pairs) {
      try {
        Socket candidate = Socket::create(pair.family, SOCK_DGRAM, pair.proto);
        if (options.reuse_port) candidate.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
        if (options.allow_broadcast) candidate.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
        if (pair.local) candidate.bind(*pair.local);
        if (pair.remote) {
          // With allow_broadcast the socket stays unconnected (asyncio); sends still default to
          // the remote address.
          if (!options.allow_broadcast) co_await sock_connect(loop, candidate, *pair.remote);
          remote = pair.remote;
        }
        sock = std::move(candidate);
        break;
      } catch (const OSError&) {
        if (!first_error) first_error = std::current_exception();
        remote.reset();
      }
    }
    if (!sock.is_open()) std::rethrow_exception(first_error);
  }
  std::shared_ptr<BaseProtocol> protocol = factory();
  Future<void> waiter = loop.create_future();
  internal::Ref<DatagramSocketTransport> transport =
      DatagramSocketTransport::create(loop, std::move(sock), protocol, remote, waiter);
  try {
    co_await waiter;
  } catch (...) {
    transport->close();
    throw;
  }
  co_return DatagramEndpoint{DatagramTransportRef(std::move(transport)), std::move(protocol)};
}

}  // namespace aio
