#include "tls/engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loop/errors.h"
#include "tls/errors.h"

namespace aio::tls {
namespace {

bool retry(int code) { return code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE; }

bool reason_is(const char* name) {
  uint32_t packed = ERR_peek_error();
  const char* reason = packed != 0 ? ERR_reason_error_string(packed) : nullptr;
  return reason != nullptr && std::string(reason) == name;
}

}  // namespace

Engine::Engine(ssl_st* ssl, std::string server_hostname)
    : ssl_(ssl, SSL_free),
      incoming_(BIO_new(BIO_s_mem())),
      outgoing_(BIO_new(BIO_s_mem())),
      server_hostname_(std::move(server_hostname)) {
  // An empty incoming BIO means "more to come" (retry), not EOF, until feed_eof().
  BIO_set_mem_eof_return(incoming_, -1);
  SSL_set_bio(ssl, incoming_, outgoing_);
}

Engine::~Engine() = default;

void Engine::drain(std::string& out) {
  // One copy straight out of the memory BIO, then empty it (BIO_read into a resized string
  // would zero-fill the space first).
  const uint8_t* contents = nullptr;
  std::size_t length = 0;
  if (BIO_mem_contents(outgoing_, &contents, &length) != 1 || length == 0) return;
  out.append(reinterpret_cast<const char*>(contents), length);
  BIO_reset(outgoing_);
}

void Engine::do_handshake(std::string& out) {
  if (state_ != State::kUnwrapped) throw RuntimeError("handshake in progress or completed");
  state_ = State::kDoHandshake;
  std::string app;
  feed(out, app, /*only_handshake=*/true);
}

Engine::Events Engine::feed_ssldata(std::span<const std::byte> data, std::string& out,
                                    std::string& app, bool only_handshake) {
  if (state_ == State::kUnwrapped) {
    app.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  // A large input goes in by slices while the connection carries plain data: BoringSSL's
  // memory BIO moves what is left down to its start on every read, so 256 KiB read record by
  // record (two reads each) would be moved ~16 times over. Anything else that happens (the
  // handshake ending, a close_notify, a state change) stops the slicing: the rest goes in at
  // once and is handled by one more feed, exactly as if it had all been written first.
  Events events;
  auto merge = [&events](const Events& more) {
    events.handshake_done |= more.handshake_done;
    events.shutdown_done |= more.shutdown_done;
    events.close_notify |= more.close_notify;
  };
  while (state_ == State::kWrapped && data.size() > kFeedSlice) {
    BIO_write(incoming_, data.data(), static_cast<int>(kFeedSlice));
    data = data.subspan(kFeedSlice);
    merge(feed(out, app, only_handshake));
    if (events.handshake_done || events.shutdown_done || events.close_notify ||
        state_ != State::kWrapped) {
      break;
    }
  }
  if (!data.empty()) BIO_write(incoming_, data.data(), static_cast<int>(data.size()));
  merge(feed(out, app, only_handshake));
  return events;
}

Engine::Events Engine::feed(std::string& out, std::string& app, bool only_handshake) {
  Events events;
  need_ssldata_ = false;
  SSL* ssl = ssl_.get();
  // Whatever breaks the connection leaves its records (an alert) in `out` first.
  auto fail = [&](int code) {
    std::exception_ptr error = internal::last_ssl_error(ssl, code, server_hostname_);
    drain(out);
    std::rethrow_exception(error);
  };
  if (state_ == State::kDoHandshake) {
    int ret = SSL_do_handshake(ssl);
    if (ret != 1) {
      int code = SSL_get_error(ssl, ret);
      if (!retry(code)) fail(code);
      need_ssldata_ = code == SSL_ERROR_WANT_READ;
      drain(out);
      return events;
    }
    state_ = State::kWrapped;
    events.handshake_done = true;
    if (only_handshake) {
      drain(out);
      return events;
    }
  }
  if (state_ == State::kWrapped) {
    // Read until the SSL object wants more ciphertext, or the peer's close_notify.
    char chunk[kMaxRead];
    for (;;) {
      int n = SSL_read(ssl, chunk, static_cast<int>(kMaxRead));
      if (n > 0) {
        app.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      int code = SSL_get_error(ssl, n);
      if (code == SSL_ERROR_ZERO_RETURN) {
        events.close_notify = true;
        break;
      }
      if (!retry(code)) fail(code);
      need_ssldata_ = code == SSL_ERROR_WANT_READ;
      break;
    }
  } else if (state_ == State::kShutdown) {
    // First our close_notify (once), then read until the peer's, discarding any data it still
    // sent (BoringSSL's second SSL_shutdown stage would call that data fatal).
    if ((SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) == 0) {
      int ret = SSL_shutdown(ssl);
      if (ret < 0) {
        int code = SSL_get_error(ssl, ret);
        if (!retry(code)) fail(code);
      }
    }
    bool done = (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
    char scratch[16384];
    while (!done) {
      int n = SSL_read(ssl, scratch, sizeof scratch);
      if (n > 0) continue;
      int code = SSL_get_error(ssl, n);
      if (code == SSL_ERROR_ZERO_RETURN) {
        done = true;
      } else {
        if (!retry(code)) fail(code);
        need_ssldata_ = code == SSL_ERROR_WANT_READ;
        break;
      }
    }
    if (done) {
      state_ = State::kUnwrapped;
      events.shutdown_done = true;
    }
  } else if (state_ == State::kUnwrapped) {
    // Plaintext that followed the peer's close_notify (after an unwrap).
    std::size_t pending = BIO_pending(incoming_);
    std::size_t at = app.size();
    app.resize(at + pending);
    int n = pending > 0 ? BIO_read(incoming_, app.data() + at, static_cast<int>(pending)) : 0;
    app.resize(at + (n > 0 ? static_cast<std::size_t>(n) : 0));
  }
  drain(out);
  return events;
}

std::size_t Engine::feed_appdata(std::span<const std::byte> data, std::size_t offset,
                                 std::string& out) {
  if (offset > data.size()) throw ValueError("offset out of range");
  if (state_ == State::kUnwrapped) {
    out.append(reinterpret_cast<const char*>(data.data()) + offset, data.size() - offset);
    return data.size();
  }
  SSL* ssl = ssl_.get();
  need_ssldata_ = false;
  while (offset < data.size()) {
    // BoringSSL writes at most INT_MAX at once; partial writes are enabled by the context.
    std::size_t chunk = std::min<std::size_t>(data.size() - offset, 1 << 30);
    int n = SSL_write(ssl, data.data() + offset, static_cast<int>(chunk));
    if (n > 0) {
      offset += static_cast<std::size_t>(n);
      continue;
    }
    int code = SSL_get_error(ssl, n);
    // Writing after our close_notify is a short write, as _SSLPipe treats PROTOCOL_IS_SHUTDOWN.
    if (code == SSL_ERROR_SSL && reason_is("PROTOCOL_IS_SHUTDOWN")) {
      ERR_clear_error();
      code = SSL_ERROR_WANT_READ;
    }
    if (!retry(code)) {
      std::exception_ptr error = internal::last_ssl_error(ssl, code, server_hostname_);
      drain(out);
      std::rethrow_exception(error);
    }
    need_ssldata_ = code == SSL_ERROR_WANT_READ;
    break;
  }
  drain(out);
  return offset;
}

Engine::Events Engine::shutdown(std::string& out) {
  if (state_ == State::kUnwrapped) throw RuntimeError("no security layer present");
  if (state_ == State::kShutdown) throw RuntimeError("shutdown in progress");
  state_ = State::kShutdown;
  std::string app;
  return feed(out, app, false);
}

void Engine::feed_eof(std::string& out) {
  BIO_set_mem_eof_return(incoming_, 0);
  if (state_ == State::kUnwrapped) return;
  SSL* ssl = ssl_.get();
  // The SSL object sees the end of the ciphertext: a truncation unless close_notify came.
  // Shutting down: the peer closing its side is all that was still awaited.
  if (state_ == State::kShutdown) return;
  char byte;
  int ret = SSL_peek(ssl, &byte, 1);
  if (ret > 0) return;
  int code = SSL_get_error(ssl, ret);
  if (code == SSL_ERROR_ZERO_RETURN || retry(code)) return;
  ERR_clear_error();
  drain(out);
  throw SSLEOFError();
}

}  // namespace aio::tls
