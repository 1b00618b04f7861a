#include "tls/ssl_protocol.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "loop/errors.h"
#include "loop/logging.h"
#include "net/transport_util.h"
#include "tls/errors.h"

namespace aio::tls::internal {
namespace {

// A buffer borrowed from a per-thread pool and given back (with its capacity) at the end of the
// scope, so the hot paths (data_received, writes) do not allocate, and on large transfers do not
// mmap and page-fault, a fresh string per call. Nested users (an application writing from its
// data_received borrows while data_received holds two) take the next ones: the pool holds as
// many as were ever in use at once, up to kPoolSize.
class ScratchLease {
 public:
  ScratchLease() {
    if (!pool().empty()) {
      text = std::move(pool().back());
      pool().pop_back();
    }
  }
  ~ScratchLease() {
    if (pool().size() < kPoolSize) {
      text.clear();
      pool().push_back(std::move(text));
    }
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  std::string text;

 private:
  static constexpr std::size_t kPoolSize = 4;
  static std::vector<std::string>& pool() {
    thread_local std::vector<std::string> strings;
    return strings;
  }
};

// Python's repr(float): "60.0", "0.5", "1e-05".
std::string python_float(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e16) {
    char text[64];
    std::snprintf(text, sizeof text, "%.1f", value);
    return text;
  }
  char text[64];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  return std::string(text, end);
}

const char* phase_name(SslProtocol::Phase phase) {
  switch (phase) {
    case SslProtocol::Phase::kUnwrapped:
      return "UNWRAPPED";
    case SslProtocol::Phase::kDoHandshake:
      return "DO_HANDSHAKE";
    case SslProtocol::Phase::kWrapped:
      return "WRAPPED";
    case SslProtocol::Phase::kFlushing:
      return "FLUSHING";
    case SslProtocol::Phase::kShutdown:
      return "SHUTDOWN";
    case SslProtocol::Phase::kClosed:
      return "CLOSED";
  }
  return "?";
}

std::span<const std::byte> bytes(const std::string& text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

}  // namespace

TransportSecurity::Wrapped SslProtocol::start(EventLoop& loop, std::shared_ptr<BaseProtocol> app,
                                              std::shared_ptr<SSLContext> context,
                                              std::optional<Future<void>> waiter, bool server_side,
                                              const std::string& server_hostname,
                                              std::optional<double> handshake_timeout,
                                              bool call_connection_made) {
  double timeout = handshake_timeout.value_or(kDefaultHandshakeTimeout);
  if (handshake_timeout && !(*handshake_timeout > 0)) {
    throw ValueError("ssl_handshake_timeout should be a positive number, got " +
                     python_float(*handshake_timeout));
  }
  if (!context) throw TypeError("sslcontext is expected to be an instance of ssl.SSLContext");
  auto protocol = std::make_shared<SslProtocol>(
      loop, std::move(app), std::move(context), std::move(waiter), server_side,
      server_side ? std::string() : server_hostname, timeout, call_connection_made);
  auto transport = aio::internal::Ref<SslTransport>::share(
      new SslTransport(std::weak_ptr<SslProtocol>(protocol)));
  protocol->app_transport_ = transport;
  return {protocol, TransportRef(std::move(transport))};
}

SslProtocol::SslProtocol(EventLoop& loop, std::shared_ptr<BaseProtocol> app,
                         std::shared_ptr<SSLContext> context, std::optional<Future<void>> waiter,
                         bool server_side, std::string server_hostname, double handshake_timeout,
                         bool call_connection_made)
    : loop_(&loop),
      context_(std::move(context)),
      waiter_(std::move(waiter)),
      server_side_(server_side),
      server_hostname_(std::move(server_hostname)),
      handshake_timeout_(handshake_timeout),
      call_connection_made_(call_connection_made) {
  set_app_protocol(std::move(app));
  // The SSL object is made now, not in connection_made, so that a context of the wrong side
  // or a bad server_hostname fails the call that asked for TLS.
  engine_ =
      std::make_unique<Engine>(context_->new_ssl(server_side_, server_hostname_), server_hostname_);
  ssl_object_ =
      std::make_shared<SSLObject>(engine_->ssl(), context_, server_side_, server_hostname_);
}

SslProtocol::~SslProtocol() {
  handshake_timer_.cancel();
  // Gone without connection_lost (its loop closed first): the application's transport is dead.
  if (app_transport_) app_transport_->closed_ = true;
}

void SslProtocol::transition(Phase to) {
  bool allowed = false;
  switch (phase_) {
    case Phase::kUnwrapped:
      allowed = to == Phase::kDoHandshake || to == Phase::kClosed;
      break;
    case Phase::kDoHandshake:
      allowed = to == Phase::kWrapped || to == Phase::kClosed;
      break;
    case Phase::kWrapped:
      allowed = to == Phase::kFlushing || to == Phase::kClosed;
      break;
    case Phase::kFlushing:
      allowed = to == Phase::kShutdown || to == Phase::kClosed;
      break;
    case Phase::kShutdown:
      allowed = to == Phase::kClosed;
      break;
    case Phase::kClosed:
      allowed = to == Phase::kClosed;
      break;
  }
  if (!allowed) {
    throw RuntimeError(std::string("SSL protocol: invalid transition ") + phase_name(phase_) +
                       " -> " + phase_name(to));
  }
  phase_ = to;
}

void SslProtocol::set_app_protocol(std::shared_ptr<BaseProtocol> app) {
  auto* stream = dynamic_cast<Protocol*>(app.get());
  auto* buffered = dynamic_cast<BufferedProtocol*>(app.get());
  if (app && stream == nullptr && buffered == nullptr) {
    throw TypeError("a TLS transport needs a Protocol or a BufferedProtocol");
  }
  app_ = std::move(app);
  app_stream_ = stream;
  app_buffered_ = buffered;
}

void SslProtocol::wakeup_waiter(std::exception_ptr error) {
  if (!waiter_) return;
  Future<void> waiter = std::move(*waiter_);
  waiter_.reset();
  if (waiter.done()) return;  // cancelled
  if (error) {
    waiter.set_exception(error);
  } else {
    waiter.set_result();
  }
}

void SslProtocol::connection_made(Transport& transport) {
  transport_ = &transport;
  // The socket transport pauses us whenever its ciphertext passes our low-water mark, so a
  // drain back to it is always reported (resume_writing) and flow control can count both
  // plaintext and ciphertext against the application's limits.
  std::size_t low = app_transport_->flow_.limits().first;
  transport_->set_write_buffer_limits(low, low);
  start_handshake();
}

void SslProtocol::start_handshake() {
  transition(Phase::kDoHandshake);
  if (loop_->get_debug()) log(LogLevel::kDebug, "SSL handshake starting");
  backlog_.push_back({Item::kHandshake, {}, 0});
  std::weak_ptr<SslProtocol> weak = weak_from_this();
  handshake_timer_ = loop_->call_later(handshake_timeout_, [weak] {
    if (auto self = weak.lock()) self->check_handshake_timeout();
  });
  process_write_backlog();
}

void SslProtocol::check_handshake_timeout() {
  if (phase_ != Phase::kDoHandshake) return;
  fatal_error(std::make_exception_ptr(ConnectionAbortedError(
                  0,
                  "SSL handshake is taking longer than " + python_float(handshake_timeout_) +
                      " seconds: aborting the connection",
                  true)),
              "Fatal error on transport");
}

void SslProtocol::on_handshake_complete(std::exception_ptr error) {
  handshake_timer_.cancel();
  if (!error) {
    try {
      peercert_ = ssl_object_->getpeercert();
      cipher_ = ssl_object_->cipher();
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (error) {
    fatal_error(error, holds<SSLCertVerificationError>(error)
                           ? "SSL handshake failed on verifying the certificate"
                           : "SSL handshake failed");
    return;
  }
  transition(Phase::kWrapped);
  if (loop_->get_debug()) log(LogLevel::kDebug, "SSL handshake completed");
  // The app transport stays valid at least until the app's connection_lost returns.
  aio::internal::Ref<SslTransport> keep = app_transport_;
  if (call_connection_made_) app_->connection_made(static_cast<BaseTransport&>(*keep));
  wakeup_waiter();
  session_established_ = true;
  // The application's writes queued during the handshake go out on the next iteration.
  std::weak_ptr<SslProtocol> weak = weak_from_this();
  loop_->call_soon([weak] {
    if (auto self = weak.lock()) self->process_write_backlog();
  });
}

void SslProtocol::connection_lost(std::exception_ptr error) {
  if (!error) error = closing_error_;
  aio::internal::Ref<SslTransport> app_transport = std::move(app_transport_);
  if (session_established_) {
    session_established_ = false;
    // Deferred, as asyncio; the app transport lives until the callback has run.
    loop_->call_soon([app = app_, error, app_transport] { app->connection_lost(error); });
  }
  if (app_transport) app_transport->closed_ = true;
  if (phase_ != Phase::kClosed) transition(Phase::kClosed);
  transport_ = nullptr;
  handshake_timer_.cancel();
  wakeup_waiter(error);
  app_.reset();
  app_stream_ = nullptr;
  app_buffered_ = nullptr;
  engine_.reset();
  backlog_.clear();
  backlog_bytes_ = 0;
}

void SslProtocol::resume_writing() { update_flow(); }

void SslProtocol::data_received(std::span<const std::byte> data) {
  if (!engine_ || transport_ == nullptr) return;  // closing: the engine is gone
  ScratchLease out_lease, plaintext_lease;
  std::string& out = out_lease.text;
  std::string& plaintext = plaintext_lease.text;
  Engine::Events events;
  bool handshaking = phase_ == Phase::kDoHandshake;
  try {
    events = engine_->feed_ssldata(data, out, plaintext);
  } catch (...) {
    std::exception_ptr error = aio::internal::current_error_unless_interrupt();
    if (!out.empty() && transport_ != nullptr) transport_->write(out);  // the alert
    if (handshaking) {
      on_handshake_complete(error);
    } else {
      fatal_error(error, "SSL error in data received");
    }
    return;
  }
  if (events.handshake_done) on_handshake_complete(nullptr);
  if (transport_ == nullptr) return;
  if (!out.empty()) transport_->write(out);
  if (events.shutdown_done) {
    finalize();
    return;
  }
  if (!plaintext.empty() && (phase_ == Phase::kWrapped || phase_ == Phase::kFlushing)) {
    try {
      deliver(plaintext);
    } catch (...) {
      fatal_error(aio::internal::current_error_unless_interrupt(),
                  "application protocol failed to receive SSL data");
      return;
    }
  }
  if (events.close_notify) {
    deliver_eof();
    start_shutdown();
  }
}

void SslProtocol::deliver(const std::string& plaintext) {
  if (app_stream_ != nullptr) {
    app_stream_->data_received(bytes(plaintext));
    return;
  }
  // asyncio's _feed_data_to_buffered_proto: as many get_buffer calls as the buffers need.
  std::size_t at = 0;
  while (at < plaintext.size() && app_buffered_ != nullptr) {
    std::span<std::byte> buffer =
        app_buffered_->get_buffer(static_cast<std::ptrdiff_t>(plaintext.size() - at));
    if (buffer.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
    std::size_t n = std::min(buffer.size(), plaintext.size() - at);
    std::memcpy(buffer.data(), plaintext.data() + at, n);
    at += n;
    app_buffered_->buffer_updated(n);
  }
}

// The application hears of the peer's EOF once: its close_notify, or the transport's EOF.
void SslProtocol::deliver_eof() {
  if (eof_delivered_ || !app_) return;
  eof_delivered_ = true;
  bool keep_open =
      app_stream_ != nullptr ? app_stream_->eof_received() : app_buffered_->eof_received();
  if (keep_open) {
    log(LogLevel::kWarning, "returning true from eof_received() has no effect when using ssl");
  }
}

bool SslProtocol::eof_received() {
  if (loop_->get_debug()) log(LogLevel::kDebug, "received EOF");
  Transport* transport = transport_;
  try {
    wakeup_waiter(std::make_exception_ptr(ConnectionResetError(0, "", true)));
    if (phase_ != Phase::kDoHandshake) deliver_eof();
  } catch (...) {
    if (transport != nullptr) transport->close();
    throw;
  }
  if (transport != nullptr) transport->close();
  return false;
}

void SslProtocol::write_appdata(std::span<const std::byte> data) {
  if (backlog_.empty() && phase_ == Phase::kWrapped && transport_ != nullptr && engine_) {
    // Nothing queued ahead: encrypt straight from the caller's bytes (what process_write_backlog
    // would do next, without copying them into the backlog first); only what the engine cannot
    // take now is queued.
    std::size_t offset = 0;
    {
      ScratchLease out_lease;
      try {
        offset = engine_->feed_appdata(data, 0, out_lease.text);
      } catch (...) {
        fatal_error(aio::internal::current_error_unless_interrupt(),
                    "Fatal error on SSL transport");
        return;
      }
      if (!out_lease.text.empty()) transport_->write(out_lease.text);
    }
    if (offset < data.size() && transport_ != nullptr) {
      auto rest = data.subspan(offset);
      backlog_bytes_ += rest.size();
      backlog_.push_back(
          {Item::kData, std::string(reinterpret_cast<const char*>(rest.data()), rest.size()), 0});
      if (!transport_->is_reading()) transport_->resume_reading();
    }
    update_flow();
    return;
  }
  Pending item{Item::kData, std::string(reinterpret_cast<const char*>(data.data()), data.size())};
  backlog_bytes_ += item.data.size();
  backlog_.push_back(std::move(item));
  process_write_backlog();
}

void SslProtocol::start_shutdown() {
  if (phase_ == Phase::kFlushing || phase_ == Phase::kShutdown || phase_ == Phase::kClosed) {
    return;
  }
  if (phase_ == Phase::kDoHandshake || phase_ == Phase::kUnwrapped) {
    abort();
    return;
  }
  transition(Phase::kFlushing);
  backlog_.push_back({Item::kShutdown, {}, 0});
  process_write_backlog();
}

void SslProtocol::process_write_backlog() {
  if (transport_ == nullptr || !engine_) return;
  try {
    for (std::size_t n = backlog_.size(); n > 0 && !backlog_.empty(); --n) {
      Pending& item = backlog_.front();
      ScratchLease out_lease;
      std::string& out = out_lease.text;
      bool shutdown_done = false;
      switch (item.kind) {
        case Item::kData:
          item.offset = engine_->feed_appdata(bytes(item.data), item.offset, out);
          break;
        case Item::kHandshake:
          engine_->do_handshake(out);
          break;
        case Item::kShutdown:
          transition(Phase::kShutdown);
          shutdown_done = engine_->shutdown(out).shutdown_done;
          break;
      }
      if (!out.empty()) transport_->write(out);
      if (item.kind == Item::kData && item.offset < item.data.size()) {
        // A short write waits for the peer (the handshake): reading must be on.
        if (!transport_->is_reading()) transport_->resume_reading();
        break;
      }
      backlog_bytes_ -= item.data.size();
      backlog_.pop_front();
      if (shutdown_done) {
        finalize();
        return;
      }
    }
  } catch (...) {
    std::exception_ptr error = aio::internal::current_error_unless_interrupt();
    if (phase_ == Phase::kDoHandshake) {
      on_handshake_complete(error);
    } else {
      fatal_error(error, "Fatal error on SSL transport");
    }
    return;
  }
  update_flow();
}

std::size_t SslProtocol::buffered() const {
  return backlog_bytes_ + (transport_ != nullptr ? transport_->get_write_buffer_size() : 0);
}

void SslProtocol::update_flow() {
  if (!app_transport_ || !app_) return;
  SslTransport& transport = *app_transport_;
  std::size_t size = buffered();
  transport.flow_.maybe_pause(size, *loop_, app_, transport);
  transport.flow_.maybe_resume(size, *loop_, app_, transport);
}

void SslProtocol::fatal_error(std::exception_ptr error, const char* message) {
  // The context names the socket transport, as asyncio's (self._transport), or ours if the
  // socket transport is gone already.
  BaseTransport* named = transport_ != nullptr ? static_cast<BaseTransport*>(transport_)
                                               : static_cast<BaseTransport*>(app_transport_.get());
  if (!holds<CancelledError>(error) && named != nullptr) {
    aio::internal::report_fatal_error(*loop_, error, message, *named, shared_from_this());
  }
  if (transport_ != nullptr) {
    // asyncio's transport._force_close(exc): abort, and connection_lost gets `error`.
    closing_error_ = error;
    Transport* transport = transport_;
    transport->abort();
  }
}

void SslProtocol::finalize() {
  engine_.reset();
  if (transport_ != nullptr) transport_->close();
}

void SslProtocol::abort() {
  Transport* transport = transport_;
  if (transport != nullptr) transport->abort();
  finalize();
}

std::any SslProtocol::extra_info(std::string_view name, std::any default_value) const {
  if (name == "sslcontext") return context_;
  if (name == "ssl_object") return ssl_object_;
  if (name == "peercert" && peercert_) return *peercert_;
  if (name == "cipher" && cipher_) return *cipher_;
  if (name == "compression" && peercert_) return std::optional<std::string>();
  if (transport_ != nullptr) return transport_->get_extra_info(name, std::move(default_value));
  return default_value;
}

// --- SslTransport
// ---------------------------------------------------------------------------------

SslTransport::SslTransport(std::weak_ptr<SslProtocol> protocol) : protocol_(std::move(protocol)) {}

void SslTransport::close() {
  if (closed_) return;
  closed_ = true;
  if (auto protocol = protocol_.lock()) protocol->start_shutdown();
}

std::any SslTransport::get_extra_info(std::string_view name, std::any default_value) const {
  auto protocol = protocol_.lock();
  return protocol ? protocol->extra_info(name, std::move(default_value)) : default_value;
}

void SslTransport::set_protocol(std::shared_ptr<BaseProtocol> app) {
  if (auto protocol = protocol_.lock()) protocol->set_app_protocol(std::move(app));
}

std::shared_ptr<BaseProtocol> SslTransport::get_protocol() const {
  auto protocol = protocol_.lock();
  return protocol ? protocol->app_ : nullptr;
}

std::string SslTransport::repr() const {
  auto protocol = protocol_.lock();
  std::string text = "<SslTransport ";
  text += protocol ? phase_name(protocol->phase_) : "CLOSED";
  if (closed_) text += " closed";
  if (protocol && protocol->transport_ != nullptr) {
    text += " over " + protocol->transport_->repr();
  }
  return text + ">";
}

Transport* SslTransport::socket_transport() const {
  auto protocol = protocol_.lock();
  return protocol ? protocol->transport_ : nullptr;
}

bool SslTransport::is_reading() const {
  Transport* transport = socket_transport();
  return transport != nullptr && transport->is_reading();
}

void SslTransport::pause_reading() {
  if (Transport* transport = socket_transport()) transport->pause_reading();
}

void SslTransport::resume_reading() {
  if (Transport* transport = socket_transport()) transport->resume_reading();
}

void SslTransport::write(std::span<const std::byte> data) {
  if (sendfile_fallback_) throw RuntimeError("unable to write; sendfile is in progress");
  sendfile_write(data);
}

void SslTransport::sendfile_write(std::span<const std::byte> data) {
  // Nothing is written once close() or abort() was called, or the connection is gone.
  auto protocol = protocol_.lock();
  if (data.empty() || closed_ || !protocol || protocol->transport_ == nullptr ||
      !protocol->engine_) {
    return;
  }
  protocol->write_appdata(data);
}

void SslTransport::write_eof() {
  throw NotImplementedError("SSL transports cannot write EOF (can_write_eof() is false)");
}

void SslTransport::abort() {
  closed_ = true;
  if (auto protocol = protocol_.lock()) protocol->abort();
}

std::size_t SslTransport::get_write_buffer_size() const {
  auto protocol = protocol_.lock();
  return protocol ? protocol->buffered() : 0;
}

void SslTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                           std::optional<std::size_t> low) {
  flow_.set_limits(high, low);
  auto protocol = protocol_.lock();
  if (!protocol) return;
  if (protocol->transport_ != nullptr) {
    std::size_t new_low = flow_.limits().first;
    protocol->transport_->set_write_buffer_limits(new_low, new_low);
  }
  protocol->update_flow();
}

}  // namespace aio::tls::internal
