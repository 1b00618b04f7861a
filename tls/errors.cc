#include "tls/errors.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cctype>

namespace aio::tls::internal {
namespace {

// Python's names for the verify codes CPython words itself.
std::string verify_text(long code, const std::string& host) {
  if (code == X509_V_ERR_HOSTNAME_MISMATCH || code == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    if (code == X509_V_ERR_HOSTNAME_MISMATCH)
      return "Hostname mismatch, certificate is not valid for '" + host + "'.";
    return "IP address mismatch, certificate is not valid for '" + host + "'.";
  }
  return X509_verify_cert_error_string(code);
}

std::string library_name(uint32_t packed) {
  switch (ERR_GET_LIB(packed)) {
    case ERR_LIB_SSL:
      return "SSL";
    case ERR_LIB_X509:
      return "X509";
    case ERR_LIB_PEM:
      return "PEM";
    case ERR_LIB_EVP:
      return "EVP";
    case ERR_LIB_SYS:
      return "SYS";
    case ERR_LIB_CIPHER:
      return "CIPHER";
    case ERR_LIB_ASN1:
      return "ASN1";
    default: {
      const char* name = ERR_lib_error_string(packed);
      return name != nullptr ? name : "SSL";
    }
  }
}

}  // namespace

std::string reason_text(const std::string& reason) {
  std::string text = reason;
  for (char& c : text) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

std::exception_ptr last_ssl_error(ssl_st* ssl, int ssl_error, const std::string& hostname) {
  uint32_t packed = ERR_peek_error();
  std::string reason;
  if (packed != 0) {
    const char* name = ERR_reason_error_string(packed);
    reason = name != nullptr ? name : "UNKNOWN";
  }
  ERR_clear_error();
  long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (reason == "CERTIFICATE_VERIFY_FAILED" && verify != X509_V_OK) {
    std::string message = verify_text(verify, hostname);
    return std::make_exception_ptr(SSLCertVerificationError(
        verify, message, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + message));
  }
  if (packed == 0) {
    // Python's wording when the TLS layer failed without a queued reason.
    return std::make_exception_ptr(SSLEOFError());
  }
  std::string library = library_name(packed);
  return std::make_exception_ptr(SSLError(
      ssl_error, library, reason, "[" + library + ": " + reason + "] " + reason_text(reason)));
}

void throw_queued_error(const std::string& what) {
  uint32_t packed = ERR_peek_error();
  ERR_clear_error();
  if (packed == 0) throw SSLError(SSL_ERROR_SSL, "SSL", "", what);
  const char* name = ERR_reason_error_string(packed);
  std::string reason = name != nullptr ? name : "UNKNOWN";
  std::string library = library_name(packed);
  throw SSLError(SSL_ERROR_SSL, library, reason,
                 "[" + library + ": " + reason + "] " + reason_text(reason) + " (" + what + ")");
}

}  // namespace aio::tls::internal
