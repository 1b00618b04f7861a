// Creating network servers: asyncio's loop.create_server / create_unix_server and the Server
// object they return.
#ifndef AIO_NET_SERVER_H_
#define AIO_NET_SERVER_H_

#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "loop/task.h"
#include "net/closes_with_loop.h"
#include "net/connection.h"
#include "net/socket.h"
#include "net/socket_transport.h"

namespace aio {

class Server;
using ServerRef = internal::Ref<Server>;

// create_server's keyword arguments.
struct ServerOptions {
  // Hosts to listen on: none (or one "") = every interface, IPv4 and IPv6; several = one
  // socket per unique address they resolve to.
  std::vector<std::string> hosts;
  std::optional<std::string> port;  // a number or service name; "0" or none: any free port
  Socket sock;                      // an already bound socket (then no hosts/port)
  int family = AF_UNSPEC;
  int flags = AI_PASSIVE;
  int backlog = 100;
  std::optional<bool> reuse_address;  // unset: on (as asyncio on POSIX)
  bool reuse_port = false;
  bool start_serving = true;
  // TLS: every accepted connection runs the server side of a handshake with this context
  // (aio::tls::SSLContext from //tls) before its protocol is connected.
  std::shared_ptr<TransportSecurity> ssl;
  std::optional<double> ssl_handshake_timeout;
};

// A server is reference-counted (ServerRef). Besides the user's references, each open
// connection it accepted holds one, and so does the server itself while it is serving (asyncio's
// loop holds it through the accept handler): dropping every ServerRef of a serving server does
// not stop it; close(), cancelling serve_forever() or closing the loop does.
class Server final : private internal::ConnectionTracker, private internal::ClosesWithLoop {
 public:
  EventLoop& get_loop() const { return *loop_; }
  // Stops listening: the listening sockets close at once; accepted connections live on.
  void close();
  bool is_serving() const { return serving_; }
  // Starts accepting (idempotent), then yields one loop iteration.
  Coro<void> start_serving();
  // Serves until cancelled; cancelling closes the server. RuntimeError if already being served
  // forever, or if closed.
  Coro<void> serve_forever();
  // Waits until the server is closed and its last connection has gone.
  Coro<void> wait_closed();
  // Non-owning views of the listening sockets (empty once closed).
  std::vector<Socket> sockets() const;
  std::size_t active_connections() const { return active_count_; }
  std::string repr() const;

  // Closes the server when it goes out of scope (asyncio's `async with server`).
  class Scope {
   public:
    explicit Scope(ServerRef server) : server_(std::move(server)) {}
    Scope(Scope&&) = default;
    ~Scope() {
      if (server_) server_->close();
    }
    Server* operator->() const { return server_.get(); }

   private:
    ServerRef server_;
  };
  Scope scoped() { return Scope(ServerRef::share(this)); }

  void add_ref() noexcept { ++refs_; }
  void drop_ref() noexcept {
    if (--refs_ == 0) delete this;
  }

  // Internal (create_server): takes the bound sockets.
  Server(EventLoop& loop, std::vector<Socket> sockets, ProtocolFactory factory, int backlog);

 private:
  ~Server();
  void attach() override;
  void detach() override;
  void on_loop_closed() noexcept override;
  void start_accepting();
  void accept_connections(Socket& listener);
  void wake_up();

  EventLoop* loop_;
  std::vector<Socket> sockets_;
  // The 'socket' objects of exception contexts, one tracking view per listener, made up front:
  // the out-of-resources report (EMFILE, ENOMEM...) must not need a new allocation.
  std::vector<std::shared_ptr<Socket>> socket_objects_;
  bool sockets_closed_ = false;
  ProtocolFactory factory_;
  int backlog_;
  std::size_t active_count_ = 0;
  bool serving_ = false;
  std::optional<Future<void>> serving_forever_;
  std::vector<Future<void>> waiters_;
  bool woken_ = false;  // closed and idle: wait_closed returns at once
  std::vector<TimerHandle> retry_timers_;
  ServerRef serving_self_;  // set while serving: a serving server stays alive
  int refs_ = 0;
};

Coro<ServerRef> create_server(EventLoop& loop, ProtocolFactory factory, ServerOptions options);
// The common form: one host (or "" for every interface) and a port.
Coro<ServerRef> create_server(EventLoop& loop, ProtocolFactory factory, std::string host,
                              std::uint16_t port);

// A UNIX stream server on `path` (a stale socket file there is replaced; any other kind of
// file is "Address already in use") or on an already bound `sock`.
Coro<ServerRef> create_unix_server(EventLoop& loop, ProtocolFactory factory,
                                   std::optional<std::string> path, Socket sock = {},
                                   int backlog = 100, bool start_serving = true,
                                   SslOptions tls = {});

}  // namespace aio

#endif  // AIO_NET_SERVER_H_
