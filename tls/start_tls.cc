#include "tls/start_tls.h"

#include "loop/errors.h"
#include "loop/future.h"
#include "net/socket_transport.h"
#include "tls/ssl_protocol.h"

namespace aio::tls {

Coro<TransportRef> start_tls(EventLoop& loop, TransportRef transport,
                             std::shared_ptr<BaseProtocol> protocol,
                             std::shared_ptr<SSLContext> sslcontext, bool server_side,
                             std::optional<std::string> server_hostname,
                             std::optional<double> ssl_handshake_timeout) {
  if (!sslcontext) {
    throw TypeError("sslcontext is expected to be an instance of ssl.SSLContext, got None");
  }
  // asyncio's _start_tls_compatible: only the socket transport can hand its stream over.
  if (!transport || dynamic_cast<SocketTransport*>(transport.get()) == nullptr) {
    throw TypeError("transport " + (transport ? transport->repr() : std::string("None")) +
                    " is not supported by start_tls()");
  }
  if (!server_side && !server_hostname && sslcontext->check_hostname()) {
    throw ValueError("check_hostname requires server_hostname");
  }
  Future<void> waiter = loop.create_future();
  TransportSecurity::Wrapped wrapped = internal::SslProtocol::start(
      loop, std::move(protocol), std::move(sslcontext), waiter, server_side,
      server_hostname.value_or(""), ssl_handshake_timeout, /*call_connection_made=*/false);
  transport->pause_reading();
  transport->set_protocol(wrapped.wire);
  Handle connect = loop.call_soon([transport, wire = wrapped.wire] {
    static_cast<BaseProtocol&>(*wire).connection_made(static_cast<BaseTransport&>(*transport));
  });
  Handle resume = loop.call_soon([transport] { transport->resume_reading(); });
  try {
    co_await waiter;
  } catch (...) {
    transport->close();
    connect.cancel();
    resume.cancel();
    throw;
  }
  co_return wrapped.app;
}

}  // namespace aio::tls
