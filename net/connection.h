// Opening network connections: asyncio's loop.create_connection, create_unix_connection and
// connect_accepted_socket, as coroutines returning (transport, protocol).
#ifndef AIO_NET_CONNECTION_H_
#define AIO_NET_CONNECTION_H_

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "loop/event_loop.h"
#include "loop/task.h"
#include "net/socket.h"
#include "net/transport_security.h"
#include "net/transports.h"

namespace aio {

// Makes the protocol of each new connection (asyncio's protocol_factory).
using ProtocolFactory = std::function<std::shared_ptr<BaseProtocol>()>;
// What create_connection and friends return: the transport and the protocol the factory made.
template <class P = BaseProtocol>
using Connection = std::pair<TransportRef, std::shared_ptr<P>>;

// create_connection's keyword arguments. Give host and port, or sock (already connected).
struct ConnectionOptions {
  std::optional<std::string> host;
  std::optional<std::string> port;  // a number or a service name ("http")
  Socket sock;                      // used when open (is_open())
  int family = AF_UNSPEC;
  int proto = 0;
  int flags = 0;
  // (host, port) to bind to before connecting; port "0" or "" for any.
  std::optional<std::pair<std::string, std::string>> local_addr;
  // Happy Eyeballs (RFC 8305): start the next address after this many seconds if the previous
  // one has not connected yet (asyncio recommends 0.25). Unset: one address after another.
  std::optional<double> happy_eyeballs_delay;
  // Reorder addresses, alternating families, this many of the first family first. Unset with
  // happy_eyeballs_delay set: 1.
  std::optional<int> interleave;
  // TLS: a context (aio::tls::SSLContext from //tls) makes this a TLS connection; the call
  // returns once the handshake is done. server_hostname defaults to host ("" sends no SNI and
  // checks no name); ssl_handshake_timeout defaults to 60 s.
  std::shared_ptr<TransportSecurity> ssl;
  std::optional<std::string> server_hostname;
  std::optional<double> ssl_handshake_timeout;
};

// asyncio's create_connection. The addresses are tried one after another, or staggered with
// happy_eyeballs_delay (then create_connection returns, or throws, only once every other attempt
// has been cancelled and has closed its socket). Every failed socket is closed. If every address
// fails: the one error when there was one or all read the same, else OSError("Multiple
// exceptions: ...") listing each in the order the attempts started. ValueError for
// contradictory arguments, with asyncio's messages.
Coro<Connection<>> create_connection(EventLoop& loop, ProtocolFactory factory,
                                     ConnectionOptions options);
Coro<Connection<>> create_connection(EventLoop& loop, ProtocolFactory factory, std::string host,
                                     std::uint16_t port);

// A UNIX stream connection to `path`, or over `sock` (a connected UNIX stream socket). With
// `tls.ssl`, `tls.server_hostname` is required.
Coro<Connection<>> create_unix_connection(EventLoop& loop, ProtocolFactory factory,
                                          std::optional<std::string> path, Socket sock = {},
                                          SslOptions tls = {});

// Wraps a connection accepted outside the loop (e.g. by another server); with `tls.ssl` as the
// server side of TLS (`tls.server_hostname` is not used).
Coro<Connection<>> connect_accepted_socket(EventLoop& loop, ProtocolFactory factory, Socket sock,
                                           SslOptions tls = {});

// The typed forms: the protocol comes back as the factory's own type,
//   auto [transport, protocol] = co_await aio::create_connection<Echo>(loop, make_echo, options);
template <class P, class Factory>
concept FactoryOf = std::is_convertible_v<std::invoke_result_t<Factory>, std::shared_ptr<P>>;

namespace internal {
template <class P, class Factory>
ProtocolFactory erase_factory(Factory factory) {
  return [factory = std::move(factory)] { return std::shared_ptr<BaseProtocol>(factory()); };
}
template <class P>
Connection<P> typed(Connection<> made) {
  return {std::move(made.first), std::static_pointer_cast<P>(std::move(made.second))};
}
}  // namespace internal

template <class P, class Factory>
  requires FactoryOf<P, Factory>
Coro<Connection<P>> create_connection(EventLoop& loop, Factory factory, ConnectionOptions options) {
  co_return internal::typed<P>(co_await create_connection(
      loop, internal::erase_factory<P>(std::move(factory)), std::move(options)));
}
template <class P, class Factory>
  requires FactoryOf<P, Factory>
Coro<Connection<P>> create_connection(EventLoop& loop, Factory factory, std::string host,
                                      std::uint16_t port) {
  co_return internal::typed<P>(co_await create_connection(
      loop, internal::erase_factory<P>(std::move(factory)), std::move(host), port));
}
template <class P, class Factory>
  requires FactoryOf<P, Factory>
Coro<Connection<P>> create_unix_connection(EventLoop& loop, Factory factory,
                                           std::optional<std::string> path, Socket sock = {},
                                           SslOptions tls = {}) {
  co_return internal::typed<P>(
      co_await create_unix_connection(loop, internal::erase_factory<P>(std::move(factory)),
                                      std::move(path), std::move(sock), std::move(tls)));
}
template <class P, class Factory>
  requires FactoryOf<P, Factory>
Coro<Connection<P>> connect_accepted_socket(EventLoop& loop, Factory factory, Socket sock,
                                            SslOptions tls = {}) {
  co_return internal::typed<P>(co_await connect_accepted_socket(
      loop, internal::erase_factory<P>(std::move(factory)), std::move(sock), std::move(tls)));
}

namespace internal {
// Makes the protocol, starts a SocketTransport on `sock` and waits until it is connected
// (connection_made has run; with `tls.ssl`, once the TLS handshake is done, and the transport
// returned is the TLS one); closes the transport if that wait fails or is cancelled.
Coro<Connection<>> start_socket_transport(EventLoop& loop, const ProtocolFactory& factory,
                                          Socket sock, const SslOptions& tls = {},
                                          bool server_side = false);
// A protocol factory for a TLS server: each connection's application protocol behind a TLS
// layer made by `tls.ssl`.
ProtocolFactory secure_server_factory(EventLoop& loop, ProtocolFactory factory, SslOptions tls);
// asyncio's ValueError for ssl_handshake_timeout without ssl.
void check_handshake_timeout_needs_ssl(const SslOptions& tls);
// ... and, for a server, also for a timeout that is not positive.
void check_server_handshake_timeout(const SslOptions& tls);
}  // namespace internal

}  // namespace aio

#endif  // AIO_NET_CONNECTION_H_
