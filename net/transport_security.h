// The seam through which ssl= reaches //net without //net knowing TLS: what create_connection,
// create_server and friends take as `ssl`. //tls implements it (aio::tls::SSLContext); //net only
// calls wrap() on a new connection, so the dependency stays tls -> net.
#ifndef AIO_NET_TRANSPORT_SECURITY_H_
#define AIO_NET_TRANSPORT_SECURITY_H_

#include <memory>
#include <optional>
#include <string>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "net/transports.h"

namespace aio {

class TransportSecurity {
 public:
  virtual ~TransportSecurity() = default;

  // A connection in the making: `wire` is the protocol to run on the socket transport (it
  // performs the handshake and then calls the application protocol's connection_made with
  // `app`, the transport the application uses).
  struct Wrapped {
    std::shared_ptr<BaseProtocol> wire;
    TransportRef app;
  };
  // `waiter` (if any) gets its result once the application protocol is connected, or the
  // handshake's error. `server_hostname`: the name to send as SNI and to check the certificate
  // against ("" for neither). ValueError for a handshake timeout that is not positive; a
  // context of the wrong side (a client context for a server) also throws.
  virtual Wrapped wrap(EventLoop& loop, std::shared_ptr<BaseProtocol> app,
                       std::optional<Future<void>> waiter, bool server_side,
                       const std::string& server_hostname,
                       std::optional<double> handshake_timeout) = 0;
};

// The TLS keyword arguments of create_unix_connection, create_unix_server and
// connect_accepted_socket (create_connection and create_server have them as option fields).
struct SslOptions {
  std::shared_ptr<TransportSecurity> ssl;
  std::optional<std::string> server_hostname;
  std::optional<double> ssl_handshake_timeout;
};

}  // namespace aio

#endif  // AIO_NET_TRANSPORT_SECURITY_H_
