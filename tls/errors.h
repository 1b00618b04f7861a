// The TLS errors asyncio users catch: ssl.SSLError and ssl.SSLCertVerificationError. Both are
// OSErrors, as in Python (so asyncio's rule "an OSError is only logged in debug mode" covers
// them), and read like Python's str(): "[SSL: WRONG_VERSION_NUMBER] wrong version number".
#ifndef AIO_TLS_ERRORS_H_
#define AIO_TLS_ERRORS_H_

#include <exception>
#include <string>

#include "loop/errors.h"

struct ssl_st;

namespace aio::tls {

class SSLError : public OSError {
 public:
  // `ssl_error` is the SSL_ERROR_* code (Python's errno for an SSLError); `library` and
  // `reason` are BoringSSL's names ("SSL", "WRONG_VERSION_NUMBER"), `text` the whole message.
  SSLError(int ssl_error, std::string library, std::string reason, std::string text)
      : OSError(ssl_error, text, /*replaces_strerror=*/true),
        library_(std::move(library)),
        reason_(std::move(reason)),
        text_(std::move(text)) {}
  const char* what() const noexcept override { return text_.c_str(); }
  const std::string& library() const noexcept { return library_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string library_, reason_, text_;
};

// The connection ended without the peer's close_notify (a truncation), or the engine was fed
// EOF in the middle of a record: Python's ssl.SSLEOFError, errno SSL_ERROR_EOF (8).
class SSLEOFError : public SSLError {
 public:
  SSLEOFError() : SSLError(8, "SSL", "", "EOF occurred in violation of protocol") {}
};

// The peer's certificate did not verify: an untrusted chain, an expired certificate, or a
// name that does not match. Python also makes it a ValueError; here it is only an SSLError.
class SSLCertVerificationError : public SSLError {
 public:
  SSLCertVerificationError(long verify_code, std::string verify_message, std::string text)
      : SSLError(1, "SSL", "CERTIFICATE_VERIFY_FAILED", std::move(text)),
        verify_code_(verify_code),
        verify_message_(std::move(verify_message)) {}
  long verify_code() const noexcept { return verify_code_; }
  const std::string& verify_message() const noexcept { return verify_message_; }

 private:
  long verify_code_;
  std::string verify_message_;
};

namespace internal {
// The error a failed SSL_* call left (`ret` its return value): an SSLCertVerificationError
// when certificate verification failed, else an SSLError from the first queued BoringSSL
// error. Clears BoringSSL's error queue.
std::exception_ptr last_ssl_error(ssl_st* ssl, int ssl_error, const std::string& hostname);
// An SSLError for a context operation that failed (load_cert_chain, set_ciphers ...), with
// `what` as a fallback when BoringSSL queued nothing.
[[noreturn]] void throw_queued_error(const std::string& what);
// BoringSSL's reason name as text: "WRONG_VERSION_NUMBER" -> "wrong version number".
std::string reason_text(const std::string& reason);
}  // namespace internal

}  // namespace aio::tls

#endif  // AIO_TLS_ERRORS_H_
