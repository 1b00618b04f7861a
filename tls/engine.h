// The TLS engine: one SSL object on a memory-only BIO (tls/wire_bio.h). Ciphertext from the network
// goes in, plaintext for the application comes out, and the other way round; it does no I/O, knows
// no loop and calls nothing back (CPython 3.8's _SSLPipe, with events returned instead of
// callbacks). The states are _SSLPipe's: UNWRAPPED -> DO_HANDSHAKE -> WRAPPED -> SHUTDOWN ->
// UNWRAPPED; each method accepts only the states it names and throws RuntimeError otherwise.
#ifndef AIO_TLS_ENGINE_H_
#define AIO_TLS_ENGINE_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>

struct ssl_st;

namespace aio::tls {
namespace internal {
class Wire;
}

class Engine {
 public:
  enum class State { kUnwrapped, kDoHandshake, kWrapped, kShutdown };
  // What one feed_ssldata() call did besides producing bytes.
  struct Events {
    bool handshake_done = false;  // DO_HANDSHAKE -> WRAPPED
    bool shutdown_done = false;   // SHUTDOWN -> UNWRAPPED (both close_notify alerts exchanged)
    bool close_notify = false;    // the peer sent close_notify (Python's b'' chunk)
  };
  // The most one SSL_read takes: a TLS record's plaintext is at most 16 KiB, so a larger
  // buffer (asyncio reads up to 256 KiB) would never fill. It is an uninitialized stack
  // buffer: growing `app` by 256 KiB per call zero-filled 512 KiB per message (two reads:
  // the record and the WANT_READ that ends the loop), most of the server's CPU on small echoes.
  static constexpr std::size_t kMaxRead = 16 * 1024;

  // Takes ownership of `ssl` (made by SSLContext::new_ssl). `server_hostname` only words the
  // errors of a failed hostname check.
  Engine(ssl_st* ssl, std::string server_hostname);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  State state() const { return state_; }
  // The last operation stopped because it needs ciphertext from the peer.
  bool need_ssldata() const { return need_ssldata_; }
  // Shared, so an ssl_object handed to the application stays valid after the engine is gone.
  const std::shared_ptr<ssl_st>& ssl() const { return ssl_; }

  // UNWRAPPED -> DO_HANDSHAKE: the first flight (a client's ClientHello) is appended to `out`.
  void do_handshake(std::string& out);
  // Ciphertext from the peer. Plaintext is appended to `app`, records to send back (handshake,
  // alerts, TLS 1.3 key updates) to `out`. In UNWRAPPED, `data` passes through as plaintext.
  // With `only_handshake`, stops once the handshake completes. Throws the SSLError (or
  // SSLCertVerificationError) that broke the connection; a renegotiation attempt is one.
  Events feed_ssldata(std::span<const std::byte> data, std::string& out, std::string& app,
                      bool only_handshake = false);
  // Plaintext to encrypt from `data[offset:]`; records go to `out`. Returns the new offset: a
  // short write (offset < size) means the engine waits for the peer (need_ssldata()), e.g.
  // during the handshake. In UNWRAPPED, the data passes through as is.
  std::size_t feed_appdata(std::span<const std::byte> data, std::size_t offset, std::string& out);
  // WRAPPED or DO_HANDSHAKE -> SHUTDOWN: our close_notify goes to `out`. The returned events
  // say whether the shutdown already completed (the peer's close_notify had come).
  Events shutdown(std::string& out);
  // The peer's transport reached EOF. Throws SSLEOFError when that truncates the connection.
  void feed_eof(std::string& out);

 private:
  Events feed(std::string& app, bool only_handshake);

  std::shared_ptr<ssl_st> ssl_;
  internal::Wire* wire_;  // owned by the SSL object's BIO
  std::string server_hostname_;
  State state_ = State::kUnwrapped;
  bool need_ssldata_ = false;
};

}  // namespace aio::tls

#endif  // AIO_TLS_ENGINE_H_
