// What get_extra_info gives about a TLS connection: "peercert" (PeerCertificate, Python's
// getpeercert() dict), "cipher" (Cipher, its (name, protocol, bits) tuple), "compression",
// "ssl_object" (std::shared_ptr<SSLObject>, Python's ssl.SSLObject) and "sslcontext".
#ifndef AIO_TLS_SSL_OBJECT_H_
#define AIO_TLS_SSL_OBJECT_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct ssl_st;
struct x509_st;

namespace aio::tls {

class SSLContext;

// One relative distinguished name: its (attribute, value) pairs, e.g. {"commonName", "localhost"}.
using RDN = std::vector<std::pair<std::string, std::string>>;

// Python's getpeercert() dict. Empty (empty() true) when the certificate was not verified,
// as Python returns {} then.
struct PeerCertificate {
  std::vector<RDN> subject;
  std::vector<RDN> issuer;
  int version = 0;           // 3 for X.509 v3
  std::string serialNumber;  // upper-case hex, as Python
  std::string notBefore;     // "Dec  2 15:31:16 2026 GMT"
  std::string notAfter;
  // ("DNS", "localhost"), ("IP Address", "127.0.0.1"), ("email", ...), ("URI", ...)
  std::vector<std::pair<std::string, std::string>> subjectAltName;

  bool empty() const { return subject.empty() && issuer.empty() && serialNumber.empty(); }
  // The value of the first `attribute` (e.g. "commonName") in the subject, or "".
  std::string subject_field(const std::string& attribute) const;
  bool operator==(const PeerCertificate&) const = default;
};

// Python's SSLSocket.cipher() tuple.
struct Cipher {
  std::string name;      // "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256"
  std::string protocol;  // "TLSv1.3"
  int secret_bits = 0;
  bool operator==(const Cipher&) const = default;
};

// Python's ssl.SSLObject for one connection (valid for as long as you hold it, also after the
// connection closed; then it still describes the finished session).
class SSLObject {
 public:
  SSLObject(std::shared_ptr<ssl_st> ssl, std::shared_ptr<SSLContext> context, bool server_side,
            std::string server_hostname);

  // "TLSv1.3", "TLSv1.2"; nullopt before the handshake.
  std::optional<std::string> version() const;
  std::optional<std::string> selected_alpn_protocol() const;
  std::optional<Cipher> cipher() const;
  // Always nullopt: BoringSSL has no TLS compression.
  std::optional<std::string> compression() const { return std::nullopt; }
  // The parsed certificate (empty if it was not verified), or with `binary_form` see
  // getpeercert_der().
  PeerCertificate getpeercert() const;
  // The peer's certificate in DER; empty if it sent none.
  std::string getpeercert_der() const;
  bool session_reused() const;
  bool server_side() const { return server_side_; }
  // The name the client checked and sent; nullopt on a server or when none was given.
  std::optional<std::string> server_hostname() const;
  const std::shared_ptr<SSLContext>& context() const { return context_; }

 private:
  std::shared_ptr<ssl_st> ssl_;
  std::shared_ptr<SSLContext> context_;
  bool server_side_;
  std::string server_hostname_;
};

namespace internal {
// Python's _ssl._decode_certificate for any certificate (the parsing getpeercert uses).
PeerCertificate decode_certificate(x509_st* cert);
}  // namespace internal

}  // namespace aio::tls

#endif  // AIO_TLS_SSL_OBJECT_H_
