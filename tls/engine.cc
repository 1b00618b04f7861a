#include "tls/engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loop/errors.h"
#include "tls/errors.h"
#include "tls/wire_bio.h"

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
    : ssl_(ssl, SSL_free), server_hostname_(std::move(server_hostname)) {
  BIO* bio = nullptr;
  wire_ = &internal::Wire::create(bio);
  // One BIO both ways: SSL_set_bio takes its single reference.
  SSL_set_bio(ssl, bio, bio);
}

Engine::~Engine() = default;

void Engine::do_handshake(std::string& out) {
  if (state_ != State::kUnwrapped) throw RuntimeError("handshake in progress or completed");
  state_ = State::kDoHandshake;
  internal::Wire::Call call(*wire_, {}, out);
  std::string app;
  feed(app, /*only_handshake=*/true);
}

Engine::Events Engine::feed_ssldata(std::span<const std::byte> data, std::string& out,
                                    std::string& app, bool only_handshake) {
  if (state_ == State::kUnwrapped) {
    app.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  // The SSL object reads `data` in place; what it leaves (a partial record, or what follows the
  // handshake with only_handshake) is kept by the wire for the next call.
  internal::Wire::Call call(*wire_, data, out);
  return feed(app, only_handshake);
}

Engine::Events Engine::feed(std::string& app, bool only_handshake) {
  Events events;
  need_ssldata_ = false;
  SSL* ssl = ssl_.get();
  // Whatever breaks the connection has already written its records (an alert) to the output.
  auto fail = [&](int code) {
    std::rethrow_exception(internal::last_ssl_error(ssl, code, server_hostname_));
  };
  if (state_ == State::kDoHandshake) {
    int ret = SSL_do_handshake(ssl);
    if (ret != 1) {
      int code = SSL_get_error(ssl, ret);
      if (!retry(code)) fail(code);
      need_ssldata_ = code == SSL_ERROR_WANT_READ;
      return events;
    }
    state_ = State::kWrapped;
    events.handshake_done = true;
    if (only_handshake) return events;
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
    wire_->take_all(app);
  }
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
  internal::Wire::Call call(*wire_, {}, out);
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
    if (!retry(code)) std::rethrow_exception(internal::last_ssl_error(ssl, code, server_hostname_));
    need_ssldata_ = code == SSL_ERROR_WANT_READ;
    break;
  }
  return offset;
}

Engine::Events Engine::shutdown(std::string& out) {
  if (state_ == State::kUnwrapped) throw RuntimeError("no security layer present");
  if (state_ == State::kShutdown) throw RuntimeError("shutdown in progress");
  state_ = State::kShutdown;
  internal::Wire::Call call(*wire_, {}, out);
  std::string app;
  return feed(app, false);
}

void Engine::feed_eof(std::string& out) {
  wire_->set_eof();
  if (state_ == State::kUnwrapped) return;
  internal::Wire::Call call(*wire_, {}, out);
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
  throw SSLEOFError();
}

}  // namespace aio::tls
