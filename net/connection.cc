#include "net/connection.h"

#include <sys/socket.h>

#include <cctype>
#include <exception>
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

// One address of create_connection: a socket, the local bind if asked, the connect. Every
// error is also recorded in `errors` (asyncio's _connect_sock).
Coro<Socket> connect_one(EventLoop& loop, dns::AddrInfo entry,
                         const std::vector<dns::AddrInfo>* local_entries, Errors& errors) {
  try {
    Socket sock = Socket::create(entry.family, entry.type, entry.protocol);
    if (local_entries != nullptr) {
      std::exception_ptr last_bind_error;
      bool bound = false;
      for (const dns::AddrInfo& local : *local_entries) {
        if (local.family != entry.family) continue;
        SocketAddress laddr = address_of(local);
        if (::bind(sock.fileno(), laddr.data(), laddr.size()) == 0) {
          bound = true;
          break;
        }
        int err = errno;
        last_bind_error =
            os_error(err, "error while attempting to bind on address " + laddr.to_string() + ": " +
                              lowercase(std::strerror(err)));
        errors.push_back(last_bind_error);
      }
      if (!bound) {
        if (last_bind_error) {
          errors.pop_back();  // asyncio raises the last one (recorded again below)
          std::rethrow_exception(last_bind_error);
        }
        throw OSError(
            0, "no matching local address with family=" + std::to_string(entry.family) + " found",
            true);
      }
    }
    co_await sock_connect(loop, sock, address_of(entry));
    co_return sock;
  } catch (const OSError&) {
    errors.push_back(std::current_exception());
    throw;
  }
}

// RFC 8305 staggered start: the next attempt begins when the previous one failed or after
// `delay`, whichever comes first; the first connected socket wins and the rest are cancelled.
Coro<std::optional<Socket>> staggered_connect(EventLoop& loop,
                                              const std::vector<dns::AddrInfo>& entries,
                                              const std::vector<dns::AddrInfo>* local_entries,
                                              double delay, Errors& errors) {
  std::vector<Task<Socket>> attempts;
  struct CancelLosers {
    std::vector<Task<Socket>>& attempts;
    ~CancelLosers() {
      for (Task<Socket>& attempt : attempts) attempt.cancel();
    }
  } cancel_losers{attempts};
  std::size_t next = 0;
  for (;;) {
    if (next < entries.size()) {
      attempts.push_back(
          loop.create_task(connect_one(loop, entries[next++], local_entries, errors)));
    }
    for (;;) {
      std::vector<Future<Socket>> pending;
      for (Task<Socket>& attempt : attempts) {
        if (!attempt.done()) pending.push_back(attempt);
      }
      if (pending.empty()) {
        if (next < entries.size()) break;  // all failed so far: start the next one now
        co_return std::nullopt;
      }
      WaitResult<Socket> result =
          co_await wait(pending, next < entries.size() ? delay : -1.0, FIRST_COMPLETED);
      for (Future<Socket>& done : result.done) {
        if (!done.cancelled() && !done.exception()) co_return done.take_result();
      }
      // Timed out (nothing done) or one failed: start the next attempt, if any.
      if (next < entries.size()) break;
    }
  }
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
                                          Socket sock) {
  sock.setblocking(false);
  std::shared_ptr<BaseProtocol> protocol = factory();
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
}  // namespace internal

Coro<Connection<>> create_connection(EventLoop& loop, ProtocolFactory factory,
                                     ConnectionOptions options) {
  if (options.happy_eyeballs_delay && !options.interleave) options.interleave = 1;
  Socket sock = std::move(options.sock);
  if (options.host || options.port) {
    if (sock.is_open())
      throw ValueError("host/port and sock can not be specified at the same time");
    std::vector<dns::AddrInfo> entries =
        co_await dns::getaddrinfo(loop, options.host, options.port, options.family, SOCK_STREAM,
                                  options.proto, options.flags);
    if (entries.empty()) throw OSError(0, "getaddrinfo() returned empty list", true);
    std::optional<std::vector<dns::AddrInfo>> local_entries;
    if (options.local_addr) {
      local_entries = co_await dns::getaddrinfo(
          loop, options.local_addr->first,
          options.local_addr->second.empty() ? std::optional<std::string>("0")
                                             : options.local_addr->second,
          options.family, SOCK_STREAM, options.proto, options.flags);
      if (local_entries->empty()) throw OSError(0, "getaddrinfo() returned empty list", true);
    }
    if (options.interleave && *options.interleave > 0) {
      entries = dns::interleave_address_families(entries, *options.interleave);
    }
    Errors errors;
    const std::vector<dns::AddrInfo>* locals = local_entries ? &*local_entries : nullptr;
    if (!options.happy_eyeballs_delay) {
      for (const dns::AddrInfo& entry : entries) {
        try {
          sock = co_await connect_one(loop, entry, locals, errors);
          break;
        } catch (const OSError&) {
        }
      }
    } else {
      std::optional<Socket> winner =
          co_await staggered_connect(loop, entries, locals, *options.happy_eyeballs_delay, errors);
      if (winner) sock = std::move(*winner);
    }
    if (!sock.is_open()) {
      if (errors.empty()) throw OSError(0, "could not connect", true);
      std::rethrow_exception(aggregate(errors));
    }
  } else {
    if (!sock.is_open()) throw ValueError("host and port was not specified and no sock specified");
    check_stream_socket(sock);
  }
  co_return co_await internal::start_socket_transport(loop, factory, std::move(sock));
}

Coro<Connection<>> create_connection(EventLoop& loop, ProtocolFactory factory, std::string host,
                                     std::uint16_t port) {
  ConnectionOptions options;
  options.host = std::move(host);
  options.port = std::to_string(port);
  co_return co_await create_connection(loop, std::move(factory), std::move(options));
}

Coro<Connection<>> create_unix_connection(EventLoop& loop, ProtocolFactory factory,
                                          std::optional<std::string> path, Socket sock) {
  if (path) {
    if (sock.is_open()) throw ValueError("path and sock can not be specified at the same time");
    sock = Socket::create(AF_UNIX, SOCK_STREAM);
    co_await sock_connect(loop, sock, SocketAddress::unix_path(*path));
  } else {
    if (!sock.is_open()) throw ValueError("no path and sock were specified");
    if (sock.family() != AF_UNIX || sock.type() != SOCK_STREAM) {
      throw ValueError("A UNIX Domain Stream Socket was expected, got " + sock.repr());
    }
  }
  co_return co_await internal::start_socket_transport(loop, factory, std::move(sock));
}

Coro<Connection<>> connect_accepted_socket(EventLoop& loop, ProtocolFactory factory, Socket sock) {
  if (!sock.is_open()) throw ValueError("no sock was specified");
  check_stream_socket(sock);
  co_return co_await internal::start_socket_transport(loop, factory, std::move(sock));
}

}  // namespace aio
