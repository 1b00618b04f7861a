#include "net/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "dns/resolver.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "loop/logging.h"

namespace aio {
namespace {

// asyncio's ACCEPT_RETRY_DELAY: how long accepting pauses when the process is out of fds.
constexpr double kAcceptRetryDelay = 1.0;

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

[[noreturn]] void throw_bind_error(int err, const SocketAddress& address) {
  throw_os_error(err,
                 "error while attempting to bind on address " + address.to_string() + ": " +
                     lowercase(std::strerror(err)),
                 /*replaces_strerror=*/true);
}

}  // namespace

Server::Server(EventLoop& loop, std::vector<Socket> sockets, ProtocolFactory factory, int backlog)
    : loop_(&loop), sockets_(std::move(sockets)), factory_(std::move(factory)), backlog_(backlog) {
  for (const Socket& sock : sockets_) {
    socket_objects_.push_back(std::make_shared<Socket>(sock.tracking_view()));
  }
  internal::register_with_loop(loop, this);
}

Server::~Server() {
  if (loop_ != nullptr) {
    for (Socket& sock : sockets_) {
      if (sock.is_open()) loop_->unwatch_reader(sock.fileno());
    }
    internal::unregister_from_loop(*loop_, this);
  }
  for (TimerHandle& timer : retry_timers_) timer.cancel();
}

std::string Server::repr() const {
  std::string text = "<Server sockets=(";
  for (const Socket& sock : sockets_) text += sock.repr() + ",";
  return text + ")>";
}

std::vector<Socket> Server::sockets() const {
  std::vector<Socket> views;
  if (sockets_closed_) return views;
  for (const Socket& sock : sockets_) views.push_back(sock.tracking_view());
  return views;
}

void Server::start_accepting() {
  if (serving_ || sockets_closed_ || loop_ == nullptr) return;
  serving_ = true;
  serving_self_ = ServerRef::share(this);
  for (Socket& sock : sockets_) {
    sock.listen(backlog_);
    loop_->watch_reader(sock.fileno(), [this, listener = &sock] { accept_connections(*listener); });
  }
}

void Server::accept_connections(Socket& listener) {
  ServerRef keep = ServerRef::share(this);  // a protocol factory may close the server
  for (int i = 0; i < backlog_ && !sockets_closed_; ++i) {
    SocketAddress peer;
    socklen_t length = SocketAddress::capacity();
    int fd = ::accept4(listener.fileno(), peer.data(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED) return;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // Out of resources: say so, and stop accepting on this socket for a while rather than
        // spinning on a listener that stays readable.
        ExceptionContext context;
        context.message = "socket.accept() out of system resource";
        try {
          throw_os_error(err);
        } catch (...) {
          context.exception = std::current_exception();
        }
        std::shared_ptr<Socket> object;
        for (const auto& candidate : socket_objects_) {
          if (candidate->fileno() == listener.fileno()) object = candidate;
        }
        context.details["socket"] = ContextValue(listener.repr(), std::move(object));
        loop_->call_exception_handler(context);
        int listener_fd = listener.fileno();
        loop_->unwatch_reader(listener_fd);
        retry_timers_.push_back(loop_->call_later(kAcceptRetryDelay, [this, &listener] {
          if (sockets_closed_ || !serving_ || loop_ == nullptr) return;
          loop_->watch_reader(listener.fileno(),
                              [this, &listener] { accept_connections(listener); });
        }));
        return;
      }
      throw_os_error(err);  // reported by the loop as the callback's error
    }
    Socket conn(fd);
    try {
      std::shared_ptr<BaseProtocol> protocol = factory_();
      SocketTransport::create(*loop_, std::move(conn), std::move(protocol), std::nullopt, this);
    } catch (...) {
      std::exception_ptr error = std::current_exception();
      if (is_interrupt(error)) throw;
      // asyncio reports a failed protocol factory only in debug mode; the connection closes.
      if (loop_->get_debug()) {
        ExceptionContext context;
        context.message = "Error on transport creation for incoming connection";
        context.exception = error;
        loop_->call_exception_handler(context);
      }
    }
  }
}

void Server::close() {
  if (sockets_closed_) return;
  ServerRef self = std::move(serving_self_);  // released last: may hold the final reference
  sockets_closed_ = true;
  for (Socket& sock : sockets_) {
    if (loop_ != nullptr) loop_->unwatch_reader(sock.fileno());
    sock.close();
  }
  for (TimerHandle& timer : retry_timers_) timer.cancel();
  retry_timers_.clear();
  serving_ = false;
  if (serving_forever_ && !serving_forever_->done()) serving_forever_->cancel();
  if (active_count_ == 0) wake_up();
}

void Server::attach() {
  ++active_count_;
  add_ref();
}

void Server::detach() {
  --active_count_;
  // A connection let go by a closing loop wakes nobody: the waiters go with the loop.
  if (active_count_ == 0 && sockets_closed_ && loop_ != nullptr && !loop_->is_closed()) {
    wake_up();
  }
  drop_ref();  // may delete this: last
}

void Server::wake_up() {
  woken_ = true;
  std::vector<Future<void>> waiters = std::move(waiters_);
  for (Future<void>& waiter : waiters) {
    if (!waiter.done()) waiter.set_result();
  }
}

Coro<void> Server::start_serving() {
  ServerRef keep = ServerRef::share(this);
  start_accepting();
  co_await sleep(0);  // one iteration, so the accept watchers are in place (as asyncio)
}

Coro<void> Server::serve_forever() {
  ServerRef keep = ServerRef::share(this);
  if (serving_forever_) {
    throw RuntimeError("server " + repr() + " is already being awaited on serve_forever()");
  }
  if (sockets_closed_) throw RuntimeError("server " + repr() + " is closed");
  start_accepting();
  serving_forever_ = loop_->create_future();
  try {
    co_await *serving_forever_;
  } catch (const CancelledError&) {
    serving_forever_.reset();
    close();
    // asyncio then awaits wait_closed(); connections may outlive the server, so only the
    // listeners are waited for here (they are closed already).
    throw;
  }
  serving_forever_.reset();
}

Coro<void> Server::wait_closed() {
  ServerRef keep = ServerRef::share(this);
  if (woken_ || loop_ == nullptr) co_return;
  Future<void> waiter = loop_->create_future();
  waiters_.push_back(waiter);
  co_await waiter;
}

void Server::on_loop_closed() noexcept {
  ServerRef self = std::move(serving_self_);  // released last: may hold the final reference
  if (!sockets_closed_)
    log(LogLevel::kWarning, "unclosed server " + repr() + " closed with its loop");
  for (Socket& sock : sockets_) sock.close();
  sockets_closed_ = true;
  serving_ = false;
  retry_timers_.clear();
  waiters_.clear();
  serving_forever_.reset();
  loop_ = nullptr;
}

// --- create_server -------------------------------------------------------------------------------

Coro<ServerRef> create_server(EventLoop& loop, ProtocolFactory factory, ServerOptions options) {
  loop.check_closed();
  SslOptions tls{options.ssl, std::nullopt, options.ssl_handshake_timeout};
  internal::check_server_handshake_timeout(tls);
  if (tls.ssl) factory = internal::secure_server_factory(loop, std::move(factory), tls);
  std::vector<Socket> sockets;
  if (!options.hosts.empty() || options.port) {
    if (options.sock.specified()) {
      throw ValueError("host/port and sock can not be specified at the same time");
    }
    bool reuse_address = options.reuse_address.value_or(true);
    std::vector<std::optional<std::string>> hosts;
    for (const std::string& host : options.hosts) {
      hosts.push_back(host.empty() ? std::nullopt : std::optional<std::string>(host));
    }
    if (hosts.empty()) hosts.push_back(std::nullopt);
    std::optional<std::string> port = options.port ? options.port : std::optional<std::string>("0");
    // Resolve every host (concurrently), then one socket per unique address.
    std::vector<Coro<std::vector<dns::AddrInfo>>> lookups;
    for (const auto& host : hosts) {
      lookups.push_back(
          dns::getaddrinfo(loop, host, port, options.family, SOCK_STREAM, 0, options.flags));
    }
    std::vector<std::vector<dns::AddrInfo>> resolved = co_await gather(std::move(lookups));
    std::vector<SocketAddress> seen;
    for (const auto& entries : resolved) {
      for (const dns::AddrInfo& entry : entries) {
        SocketAddress address = SocketAddress::from(
            reinterpret_cast<const sockaddr*>(&entry.address), entry.address_length);
        bool duplicate = false;
        for (const SocketAddress& other : seen) duplicate |= other == address;
        if (duplicate) continue;
        seen.push_back(address);
        // A failure below closes every socket made so far (they are owned by `sockets`).
        Socket& sock =
            sockets.emplace_back(Socket::create(entry.family, entry.type, entry.protocol));
        if (reuse_address) sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        if (options.reuse_port) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
        // Without V6ONLY, the IPv6 wildcard would also take the IPv4 port from its sibling.
        if (entry.family == AF_INET6) sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
        if (::bind(sock.fileno(), address.data(), address.size()) != 0) {
          throw_bind_error(errno, address);
        }
      }
    }
    if (sockets.empty()) throw OSError(0, "getaddrinfo() returned empty list", true);
  } else {
    if (!options.sock.specified()) throw ValueError("Neither host/port nor sock were specified");
    options.sock.check_not_closed();
    if (options.sock.type() != SOCK_STREAM) {
      throw ValueError("A Stream Socket was expected, got " + options.sock.repr());
    }
    options.sock.setblocking(false);
    sockets.push_back(std::move(options.sock));
  }
  ServerRef server =
      ServerRef::share(new Server(loop, std::move(sockets), std::move(factory), options.backlog));
  if (options.start_serving) co_await server->start_serving();
  co_return server;
}

Coro<ServerRef> create_server(EventLoop& loop, ProtocolFactory factory, std::string host,
                              std::uint16_t port) {
  ServerOptions options;
  options.hosts.push_back(std::move(host));
  options.port = std::to_string(port);
  co_return co_await create_server(loop, std::move(factory), std::move(options));
}

Coro<ServerRef> create_unix_server(EventLoop& loop, ProtocolFactory factory,
                                   std::optional<std::string> path, Socket sock, int backlog,
                                   bool start_serving, SslOptions tls) {
  loop.check_closed();  // before a stale socket file is removed
  internal::check_server_handshake_timeout(tls);
  if (tls.ssl) factory = internal::secure_server_factory(loop, std::move(factory), tls);
  if (path) {
    if (sock.specified()) throw ValueError("path and sock can not be specified at the same time");
    SocketAddress address = SocketAddress::unix_path(*path);
    if (!address.is_abstract()) {
      // A socket file left by an earlier server is replaced; anything else stays and the bind
      // below fails with "Address already in use".
      struct stat info{};
      if (::stat(path->c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) ::unlink(path->c_str());
    }
    sock = Socket::create(AF_UNIX, SOCK_STREAM);
    if (::bind(sock.fileno(), address.data(), address.size()) != 0) {
      int err = errno;
      if (err == EADDRINUSE) {
        throw_os_error(err, "Address " + address.to_string() + " is already in use", true);
      }
      throw_bind_error(err, address);
    }
  } else {
    if (!sock.specified()) throw ValueError("path was not specified, and no sock specified");
    sock.check_not_closed();
    if (sock.family() != AF_UNIX || sock.type() != SOCK_STREAM) {
      throw ValueError("A UNIX Domain Stream Socket was expected, got " + sock.repr());
    }
    sock.setblocking(false);
  }
  std::vector<Socket> sockets;
  sockets.push_back(std::move(sock));
  ServerRef server =
      ServerRef::share(new Server(loop, std::move(sockets), std::move(factory), backlog));
  if (start_serving) co_await server->start_serving();
  co_return server;
}

}  // namespace aio
