// loop.start_tls: upgrades an open connection to TLS (STARTTLS), as asyncio 3.8.
#ifndef AIO_TLS_START_TLS_H_
#define AIO_TLS_START_TLS_H_

#include <memory>
#include <optional>
#include <string>

#include "loop/event_loop.h"
#include "loop/task.h"
#include "net/protocols.h"
#include "net/transports.h"
#include "tls/context.h"

namespace aio::tls {

// Runs the TLS handshake over `transport` (a socket transport) and returns the new TLS
// transport once it is done; `protocol` then receives the plaintext through it, without a
// second connection_made. The old transport must not be used again. TypeError for a null
// context or a transport that cannot be upgraded (a TLS, pipe or datagram transport); ValueError
// "check_hostname requires server_hostname" for a client whose context checks hostnames and no
// server_hostname; a failed handshake closes the transport and throws its error; cancelling
// closes it too.
Coro<TransportRef> start_tls(EventLoop& loop, TransportRef transport,
                             std::shared_ptr<BaseProtocol> protocol,
                             std::shared_ptr<SSLContext> sslcontext, bool server_side = false,
                             std::optional<std::string> server_hostname = std::nullopt,
                             std::optional<double> ssl_handshake_timeout = std::nullopt);

}  // namespace aio::tls

#endif  // AIO_TLS_START_TLS_H_
