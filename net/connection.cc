#include "net/connection.h"

#include <sys/socket.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "dns/numeric.h"
#include "dns/resolver.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "loop/waiting.h"
#include "net/sock_ops.h"
#include "net/socket_transport.h"

namespace aio {
namespace {

using Errors = std::vector<std::exception_ptr>;

SocketAddress address_of(const dns::AddrInfo& entry) {
  return SocketAddress::from(reinterpret_cast<const sockaddr*>(&entry.address),
                             entry.address_length);
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::exception_ptr os_error(int err, const std::string& text) {
  try {
    throw_os_error(err, text, /*replaces_strerror=*/true);
  } catch (...) {
    return std::current_exception();
  }
}

// Python's repr of a socket.AddressFamily, as asyncio's f"{family=}" prints it.
std::string family_repr(int family) {
  switch (family) {
    case AF_INET:
      return "<AddressFamily.AF_INET: 2>";
    case AF_INET6:
      return "<AddressFamily.AF_INET6: 10>";
    case AF_UNIX:
      return "<AddressFamily.AF_UNIX: 1>";
    default:
      return std::to_string(family);
  }
}

// What create_connection shares with its connection attempts. Shared, not borrowed: a Happy
// Eyeballs attempt is a task of its own and may still be unwinding from its cancellation when
// create_connection has already returned.
struct AttemptState {
  std::optional<std::vector<dns::AddrInfo>> local_entries;
  // The OSErrors of each attempt, in the order the attempts started (asyncio's `exceptions`, a
  // list per _connect_sock call), whatever order they ended in.
  std::vector<Errors> errors;
};
using SharedState = std::shared_ptr<AttemptState>;

// One address of create_connection: a socket, the local bind if asked, the connect; every
// OSError is recorded in state->errors[index] (asyncio's _connect_sock). The socket is closed
// on any failure, cancellation included.
Coro<Socket> connect_one(EventLoop& loop, dns::AddrInfo entry, SharedState state,
                         std::size_t index) {
  try {
    Socket sock = Socket::create(entry.family, entry.type, entry.protocol);
    if (state->local_entries) {
      bool bound = false;
      for (const dns::AddrInfo& local : *state->local_entries) {
        if (local.family != entry.family) continue;  // skip local addresses of another family
        SocketAddress laddr = address_of(local);
        if (::bind(sock.fileno(), laddr.data(), laddr.size()) == 0) {
          bound = true;
          break;
        }
        int err = errno;
        state->errors[index].push_back(os_error(err, "error while attempting to bind on address " +
                                                         laddr.to_string() + ": " +
                                                         lowercase(std::strerror(err))));
      }
      if (!bound) {
        if (!state->errors[index].empty()) {
          // asyncio raises the last bind error (recorded again by the handler below).
          std::exception_ptr last = state->errors[index].back();
          state->errors[index].pop_back();
          std::rethrow_exception(last);
        }
        throw OSError(
            0, "no matching local address with family=" + family_repr(entry.family) + " found",
            true);
      }
    }
    co_await sock_connect(loop, sock, address_of(entry));
    co_return sock;
  } catch (const OSError&) {
    state->errors[index].push_back(std::current_exception());
    throw;
  }
}

// A Happy Eyeballs attempt as a task: no socket (nullopt) when it failed with an OSError (which
// connect_one recorded); any other error propagates.
Coro<std::optional<Socket>> staggered_attempt(EventLoop& loop, dns::AddrInfo entry,
                                              SharedState state, std::size_t index) {
  try {
    co_return co_await connect_one(loop, std::move(entry), std::move(state), index);
  } catch (const OSError&) {
  }
  co_return std::nullopt;
}

using Attempt = Task<std::optional<Socket>>;

// RFC 8305 staggered start (asyncio's staggered_race): the next attempt starts when the one
// started last has failed, or `delay` seconds after it started, whichever comes first; the first
// connected socket wins.
Coro<std::optional<Socket>> race(EventLoop& loop, const std::vector<dns::AddrInfo>& entries,
                                 const SharedState& state, double delay,
                                 std::vector<Attempt>& attempts) {
  std::size_t next = 0;
  double last_start = 0;
  std::vector<bool> seen;  // attempts whose outcome was looked at
  for (;;) {
    if (next < entries.size() &&
        (attempts.empty() || attempts.back().done() || loop.time() >= last_start + delay)) {
      state->errors.emplace_back();
      attempts.push_back(loop.create_task(staggered_attempt(loop, entries[next], state, next)));
      seen.push_back(false);
      ++next;
      last_start = loop.time();
      continue;
    }
    std::vector<Future<std::optional<Socket>>> pending;
    for (std::size_t i = 0; i < attempts.size(); ++i) {
      if (!attempts[i].done()) {
        pending.push_back(attempts[i]);
      } else if (!seen[i]) {
        seen[i] = true;
        if (std::optional<Socket> sock = attempts[i].take_result()) co_return sock;
      }
    }
    bool more = next < entries.size();
    if (pending.empty() && !more) co_return std::nullopt;  // every attempt failed
    if (more && attempts.back().done()) continue;          // the last one failed: next now
    co_await wait(std::move(pending), more ? last_start + delay - loop.time() : -1.0,
                  FIRST_COMPLETED);
  }
}

Coro<std::optional<Socket>> staggered_connect(EventLoop& loop,
                                              const std::vector<dns::AddrInfo>& entries,
                                              const SharedState& state, double delay) {
  std::vector<Attempt> attempts;
  std::optional<Socket> winner;
  std::exception_ptr failure;
  try {
    winner = co_await race(loop, entries, state, delay, attempts);
  } catch (...) {
    failure = std::current_exception();  // cancelled, or an error that is not an OSError
  }
  // No attempt outlives create_connection: cancel the others and wait until each has unwound
  // (and closed its socket). asyncio only cancels them; their sockets then close later.
  std::vector<Future<std::optional<Socket>>> running;
  for (Attempt& attempt : attempts) {
    if (!attempt.done() && attempt.cancel()) running.push_back(attempt);
  }
  if (!running.empty()) {
    try {
      co_await wait(std::move(running));
    } catch (...) {
      if (!failure) failure = std::current_exception();  // cancelled again meanwhile
    }
  }
  if (failure) std::rethrow_exception(failure);
  co_return winner;
}

std::exception_ptr aggregate(const Errors& errors) {
  if (errors.size() == 1) return errors.front();
  std::string model = exception_message(errors.front());
  bool all_same = true;
  std::string listed;
  for (const std::exception_ptr& error : errors) {
    std::string text = exception_message(error);
    all_same &= text == model;
    listed += (listed.empty() ? "" : ", ") + text;
  }
  if (all_same) return errors.front();
  return std::make_exception_ptr(OSError(0, "Multiple exceptions: " + listed, true));
}

void check_stream_socket(const Socket& sock) {
  if (sock.type() != SOCK_STREAM) {
    throw ValueError("A Stream Socket was expected, got " + sock.repr());
  }
}

}  // namespace

namespace internal {
Coro<Connection<>> start_socket_transport(EventLoop& loop, const ProtocolFactory& factory,
                                          Socket sock, const SslOptions& tls, bool server_side) {
  sock.setblocking(false);
  std::shared_ptr<BaseProtocol> protocol = factory();
  if (tls.ssl) {
    // asyncio's _make_ssl_transport: the socket transport runs the TLS protocol, whose waiter
    // is done once the handshake is and the application protocol is connected.
    Future<void> waiter = loop.create_future();
    TransportSecurity::Wrapped wrapped =
        tls.ssl->wrap(loop, protocol, waiter, server_side, tls.server_hostname.value_or(""),
                      tls.ssl_handshake_timeout);
    Ref<SocketTransport> transport = SocketTransport::create(loop, std::move(sock), wrapped.wire);
    try {
      co_await waiter;
    } catch (...) {
      transport->close();
      throw;
    }
    co_return Connection<>{std::move(wrapped.app), std::move(protocol)};
  }
  Future<void> waiter = loop.create_future();
  Ref<SocketTransport> transport = SocketTransport::create(loop, std::move(sock), protocol, waiter);
  try {
    co_await waiter;
  } catch (...) {
    transport->close();
    throw;
  }
  co_return Connection<>{TransportRef(std::move(transport)), std::move(protocol)};
}

ProtocolFactory secure_server_factory(EventLoop& loop, ProtocolFactory factory, SslOptions tls) {
  return [&loop, factory = std::move(factory), tls = std::move(tls)] {
    return tls.ssl
        ->wrap(loop, factory(), std::nullopt, /*server_side=*/true, "", tls.ssl_handshake_timeout)
        .wire;
  };
}

void check_handshake_timeout_needs_ssl(const SslOptions& tls) {
  if (tls.ssl_handshake_timeout && !tls.ssl) {
    throw ValueError("ssl_handshake_timeout is only meaningful with ssl");
  }
}

void check_server_handshake_timeout(const SslOptions& tls) {
  check_handshake_timeout_needs_ssl(tls);
  if (tls.ssl && tls.ssl_handshake_timeout && !(*tls.ssl_handshake_timeout > 0)) {
    // asyncio would only find out per accepted connection (and say nothing): fail here, with
    // SSLProtocol's message (a repr of the float, "-1.0").
    char text[64];
    double value = *tls.ssl_handshake_timeout;
    std::string shown;
    if (value == static_cast<double>(static_cast<long long>(value))) {
      std::snprintf(text, sizeof text, "%.1f", value);
      shown = text;
    } else {
      shown.assign(text, std::to_chars(text, text + sizeof text, value).ptr);  // shortest
    }
    throw ValueError("ssl_handshake_timeout should be a positive number, got " + shown);
  }
}
}  // namespace internal

Coro<Connection<>> create_connection(EventLoop& loop, ProtocolFactory factory,
                                     ConnectionOptions options) {
  loop.check_closed();
  // asyncio's checks, in its order.
  if (options.server_hostname && !options.ssl) {
    throw ValueError("server_hostname is only meaningful with ssl");
  }
  if (!options.server_hostname && options.ssl) {
    if (!options.host || options.host->empty()) {
      throw ValueError("You must set server_hostname when using ssl without a host");
    }
    options.server_hostname = options.host;
  }
  SslOptions tls{options.ssl, options.server_hostname, options.ssl_handshake_timeout};
  internal::check_handshake_timeout_needs_ssl(tls);
  if (options.happy_eyeballs_delay && !options.interleave) options.interleave = 1;
  Socket sock = std::move(options.sock);
  if (options.host || options.port) {
    if (sock.specified())
      throw ValueError("host/port and sock can not be specified at the same time");
    std::vector<dns::AddrInfo> entries =
        co_await dns::getaddrinfo(loop, options.host, options.port, options.family, SOCK_STREAM,
                                  options.proto, options.flags);
    if (entries.empty()) throw OSError(0, "getaddrinfo() returned empty list", true);
    auto state = std::make_shared<AttemptState>();
    if (options.local_addr) {
      state->local_entries = co_await dns::getaddrinfo(
          loop, options.local_addr->first,
          options.local_addr->second.empty() ? std::optional<std::string>("0")
                                             : options.local_addr->second,
          options.family, SOCK_STREAM, options.proto, options.flags);
      if (state->local_entries->empty()) {
        throw OSError(0, "getaddrinfo() returned empty list", true);
      }
    }
    if (options.interleave && *options.interleave > 0) {
      entries = dns::interleave_address_families(entries, *options.interleave);
    }
    if (!options.happy_eyeballs_delay) {
      for (std::size_t i = 0; i < entries.size(); ++i) {
        state->errors.emplace_back();
        try {
          sock = co_await connect_one(loop, entries[i], state, i);
          break;
        } catch (const OSError&) {
        }
      }
    } else {
      std::optional<Socket> winner =
          co_await staggered_connect(loop, entries, state, *options.happy_eyeballs_delay);
      if (winner) sock = std::move(*winner);
    }
    if (!sock.is_open()) {
      Errors errors;
      for (const Errors& attempt : state->errors) {
        errors.insert(errors.end(), attempt.begin(), attempt.end());
      }
      if (errors.empty()) throw OSError(0, "could not connect", true);
      std::rethrow_exception(aggregate(errors));
    }
  } else {
    if (!sock.specified()) {
      throw ValueError("host and port was not specified and no sock specified");
    }
    sock.check_not_closed();
    check_stream_socket(sock);
  }
  co_return co_await internal::start_socket_transport(loop, factory, std::move(sock), tls);
}

Coro<Connection<>> create_connection(EventLoop& loop, ProtocolFactory factory, std::string host,
                                     std::uint16_t port) {
  ConnectionOptions options;
  options.host = std::move(host);
  options.port = std::to_string(port);
  co_return co_await create_connection(loop, std::move(factory), std::move(options));
}

Coro<Connection<>> create_unix_connection(EventLoop& loop, ProtocolFactory factory,
                                          std::optional<std::string> path, Socket sock,
                                          SslOptions tls) {
  loop.check_closed();
  if (tls.ssl) {
    if (!tls.server_hostname) throw ValueError("you have to pass server_hostname when using ssl");
  } else {
    if (tls.server_hostname) throw ValueError("server_hostname is only meaningful with ssl");
    internal::check_handshake_timeout_needs_ssl(tls);
  }
  if (path) {
    if (sock.specified()) throw ValueError("path and sock can not be specified at the same time");
    sock = Socket::create(AF_UNIX, SOCK_STREAM);
    co_await sock_connect(loop, sock, SocketAddress::unix_path(*path));
  } else {
    if (!sock.specified()) throw ValueError("no path and sock were specified");
    sock.check_not_closed();
    if (sock.family() != AF_UNIX || sock.type() != SOCK_STREAM) {
      throw ValueError("A UNIX Domain Stream Socket was expected, got " + sock.repr());
    }
  }
  co_return co_await internal::start_socket_transport(loop, factory, std::move(sock), tls);
}

Coro<Connection<>> connect_accepted_socket(EventLoop& loop, ProtocolFactory factory, Socket sock,
                                           SslOptions tls) {
  loop.check_closed();
  internal::check_handshake_timeout_needs_ssl(tls);
  if (!sock.specified()) throw ValueError("no sock was specified");
  sock.check_not_closed();
  check_stream_socket(sock);
  co_return co_await internal::start_socket_transport(loop, factory, std::move(sock), tls,
                                                      /*server_side=*/true);
}

}  // namespace aio
