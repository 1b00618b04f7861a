// TLS over a stream transport, as CPython 3.8's sslproto: SslProtocol is the protocol the
// socket transport talks to (ciphertext), SslTransport the transport the application sees
// (plaintext). The engine does the TLS; this layer only moves bytes and keeps asyncio's rules.
//
// The connection's phase follows a whitelist (transition() refuses any other step):
//   UNWRAPPED -> DO_HANDSHAKE -> WRAPPED -> FLUSHING -> SHUTDOWN -> CLOSED
// with CLOSED reachable from every phase (abort, error, connection lost) and DO_HANDSHAKE ->
// FLUSHING refused (closing during the handshake aborts, as asyncio).
#ifndef AIO_TLS_SSL_PROTOCOL_H_
#define AIO_TLS_SSL_PROTOCOL_H_

#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "net/flow_control.h"
#include "net/protocols.h"
#include "net/sendfile_fallback_target.h"
#include "net/transport_security.h"
#include "net/transports.h"
#include "tls/context.h"
#include "tls/engine.h"
#include "tls/ssl_object.h"

namespace aio::tls {

namespace internal {

class SslTransport;

class SslProtocol final : public Protocol, public std::enable_shared_from_this<SslProtocol> {
 public:
  enum class Phase { kUnwrapped, kDoHandshake, kWrapped, kFlushing, kShutdown, kClosed };

  // Makes the pair. ValueError "ssl_handshake_timeout should be a positive number, got N" for
  // a timeout <= 0; ValueError for a context of the other side. `call_connection_made` false
  // for start_tls (the application protocol is connected already).
  static TransportSecurity::Wrapped start(EventLoop& loop, std::shared_ptr<BaseProtocol> app,
                                          std::shared_ptr<SSLContext> context,
                                          std::optional<Future<void>> waiter, bool server_side,
                                          const std::string& server_hostname,
                                          std::optional<double> handshake_timeout,
                                          bool call_connection_made);

  SslProtocol(EventLoop& loop, std::shared_ptr<BaseProtocol> app,
              std::shared_ptr<SSLContext> context, std::optional<Future<void>> waiter,
              bool server_side, std::string server_hostname, double handshake_timeout,
              bool call_connection_made);
  ~SslProtocol() override;

  // Protocol (called by the socket transport).
  void connection_made(Transport& transport) override;
  void connection_lost(std::exception_ptr error) override;
  void pause_writing() override {}
  void resume_writing() override;
  void data_received(std::span<const std::byte> data) override;
  bool eof_received() override;

  Phase phase() const { return phase_; }

 private:
  friend class SslTransport;

  void transition(Phase to);
  void set_app_protocol(std::shared_ptr<BaseProtocol> app);
  void wakeup_waiter(std::exception_ptr error = nullptr);
  void start_handshake();
  void check_handshake_timeout();
  void on_handshake_complete(std::exception_ptr error);
  void write_appdata(std::span<const std::byte> data);
  void start_shutdown();
  void process_write_backlog();
  void deliver(const std::string& plaintext);
  void deliver_eof();
  void fatal_error(std::exception_ptr error, const char* message);
  void finalize();
  void abort();
  std::size_t buffered() const;
  void update_flow();
  std::any extra_info(std::string_view name, std::any default_value) const;

  enum class Item { kData, kHandshake, kShutdown };
  struct Pending {
    Item kind;
    std::string data;
    std::size_t offset = 0;
  };

  EventLoop* loop_;
  std::shared_ptr<BaseProtocol> app_;
  Protocol* app_stream_ = nullptr;  // exactly one of these two is set
  BufferedProtocol* app_buffered_ = nullptr;
  std::shared_ptr<SSLContext> context_;
  std::optional<Future<void>> waiter_;
  bool server_side_;
  std::string server_hostname_;
  double handshake_timeout_;
  bool call_connection_made_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<SSLObject> ssl_object_;
  aio::internal::Ref<SslTransport> app_transport_;
  Transport* transport_ = nullptr;  // the socket transport, valid from connection_made to _lost
  Phase phase_ = Phase::kUnwrapped;
  bool session_established_ = false;
  bool eof_delivered_ = false;
  std::deque<Pending> backlog_;
  std::size_t backlog_bytes_ = 0;  // plaintext waiting in backlog_
  TimerHandle handshake_timer_;
  std::exception_ptr closing_error_;  // what fatal_error closed the socket transport with
  // Set once the handshake completed (the extra info rows).
  std::optional<PeerCertificate> peercert_;
  std::optional<Cipher> cipher_;
};

// The transport the application sees (asyncio's _SSLProtocolTransport). The SslProtocol owns
// it until the application's connection_lost has run; it only refers back to the protocol
// (weakly), so no cycle keeps either alive. Once the protocol is gone (the connection is over)
// it is a closed transport: writes are dropped and get_extra_info gives the defaults (keep the
// ssl_object to look at the session afterwards).
// loop.sendfile reaches it as a SendfileFallbackTarget (read+write: every byte is encrypted).
class SslTransport final : public Transport, public aio::internal::SendfileFallbackTarget {
 public:
  explicit SslTransport(std::weak_ptr<SslProtocol> protocol);

  // BaseTransport
  void close() override;
  bool is_closing() const override { return closed_; }
  // "peercert", "cipher", "compression", "ssl_object", "sslcontext", then the socket
  // transport's rows ("peername", "sockname", "socket").
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override;
  std::string repr() const override;

  // ReadTransport
  bool is_reading() const override;
  void pause_reading() override;
  void resume_reading() override;

  // WriteTransport
  using WriteTransport::write;
  void write(std::span<const std::byte> data) override;
  // NotImplementedError, as asyncio 3.8 (can_write_eof() is false).
  void write_eof() override;
  bool can_write_eof() const override { return false; }
  void abort() override;
  // Plaintext not yet encrypted plus ciphertext not yet sent.
  std::size_t get_write_buffer_size() const override;
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override {
    return flow_.limits();
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;

  // SendfileFallbackTarget (loop.sendfile): write() is refused while the fallback runs.
  bool protocol_writing_paused() const override { return flow_.protocol_paused(); }
  void begin_sendfile_fallback() override { sendfile_fallback_ = true; }
  void end_sendfile_fallback() override { sendfile_fallback_ = false; }
  void sendfile_write(std::span<const std::byte> data) override;

 private:
  friend class SslProtocol;
  ~SslTransport() override = default;
  Transport* socket_transport() const;

  std::weak_ptr<SslProtocol> protocol_;
  bool closed_ = false;
  bool sendfile_fallback_ = false;  // loop.sendfile's fallback is writing
  aio::internal::WriteFlowControl flow_;
};

}  // namespace internal
}  // namespace aio::tls

#endif  // AIO_TLS_SSL_PROTOCOL_H_
