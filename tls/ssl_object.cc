#include "tls/ssl_object.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>

namespace aio::tls {
namespace {

std::string bio_text(BIO* bio) {
  const uint8_t* contents = nullptr;
  size_t length = 0;
  BIO_mem_contents(bio, &contents, &length);
  std::string text(reinterpret_cast<const char*>(contents), length);
  BIO_free(bio);
  return text;
}

std::string asn1_utf8(const ASN1_STRING* value) {
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) return "";
  std::string text(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return text;
}

// CPython's _create_tuple_for_X509_NAME: entries grouped by their RDN set, long names.
std::vector<RDN> decode_name(const X509_NAME* name) {
  std::vector<RDN> rdns;
  int last_set = -1;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    char attribute[256];
    OBJ_obj2txt(attribute, sizeof attribute, X509_NAME_ENTRY_get_object(entry), 0);
    int set = X509_NAME_ENTRY_set(entry);
    if (rdns.empty() || set != last_set) rdns.emplace_back();
    last_set = set;
    rdns.back().emplace_back(attribute, asn1_utf8(X509_NAME_ENTRY_get_data(entry)));
  }
  return rdns;
}

std::string time_text(const ASN1_TIME* time) {
  BIO* bio = BIO_new(BIO_s_mem());
  ASN1_TIME_print(bio, time);
  return bio_text(bio);
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
  const unsigned char* bytes = ASN1_STRING_get0_data(ip);
  int length = ASN1_STRING_length(ip);
  char text[64];
  if (length == 4) {
    std::snprintf(text, sizeof text, "%d.%d.%d.%d", bytes[0], bytes[1], bytes[2], bytes[3]);
    return text;
  }
  if (length == 16) {
    // CPython writes all eight groups in upper-case hex, uncompressed.
    std::string out;
    for (int i = 0; i < 16; i += 2) {
      std::snprintf(text, sizeof text, "%X", (bytes[i] << 8) | bytes[i + 1]);
      out += (i ? ":" : "") + std::string(text);
    }
    return out;
  }
  return "<invalid>";
}

}  // namespace

std::string PeerCertificate::subject_field(const std::string& attribute) const {
  for (const RDN& rdn : subject) {
    for (const auto& [name, value] : rdn) {
      if (name == attribute) return value;
    }
  }
  return "";
}

namespace internal {
PeerCertificate decode_certificate(x509_st* cert) {
  PeerCertificate out;
  out.subject = decode_name(X509_get_subject_name(cert));
  out.issuer = decode_name(X509_get_issuer_name(cert));
  out.version = static_cast<int>(X509_get_version(cert)) + 1;
  BIO* serial = BIO_new(BIO_s_mem());
  i2a_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
  out.serialNumber = bio_text(serial);
  out.notBefore = time_text(X509_get0_notBefore(cert));
  out.notAfter = time_text(X509_get0_notAfter(cert));
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (size_t i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      switch (name->type) {
        case GEN_DNS:
          out.subjectAltName.emplace_back("DNS", asn1_utf8(name->d.dNSName));
          break;
        case GEN_EMAIL:
          out.subjectAltName.emplace_back("email", asn1_utf8(name->d.rfc822Name));
          break;
        case GEN_URI:
          out.subjectAltName.emplace_back("URI", asn1_utf8(name->d.uniformResourceIdentifier));
          break;
        case GEN_IPADD:
          out.subjectAltName.emplace_back("IP Address", ip_text(name->d.iPAddress));
          break;
        default:
          break;  // othername, X.400, directory names: not shown (Python shows some)
      }
    }
    GENERAL_NAMES_free(names);
  }
  return out;
}
}  // namespace internal

SSLObject::SSLObject(std::shared_ptr<ssl_st> ssl, std::shared_ptr<SSLContext> context,
                     bool server_side, std::string server_hostname)
    : ssl_(std::move(ssl)),
      context_(std::move(context)),
      server_side_(server_side),
      server_hostname_(std::move(server_hostname)) {}

std::optional<std::string> SSLObject::version() const {
  if (SSL_in_init(ssl_.get()) || SSL_get_current_cipher(ssl_.get()) == nullptr) {
    return std::nullopt;
  }
  return std::string(SSL_get_version(ssl_.get()));
}

std::optional<std::string> SSLObject::selected_alpn_protocol() const {
  const uint8_t* data = nullptr;
  unsigned length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &length);
  if (length == 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), length);
}

std::optional<Cipher> SSLObject::cipher() const {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_.get());
  if (cipher == nullptr) return std::nullopt;
  return Cipher{SSL_CIPHER_get_name(cipher), SSL_get_version(ssl_.get()),
                SSL_CIPHER_get_bits(cipher, nullptr)};
}

PeerCertificate SSLObject::getpeercert() const {
  // Python: {} unless the certificate was verified (CERT_NONE accepts without verifying).
  if (SSL_get_verify_mode(ssl_.get()) == SSL_VERIFY_NONE) return {};
  X509* cert = SSL_get_peer_certificate(ssl_.get());
  if (cert == nullptr) return {};
  PeerCertificate decoded;
  if (SSL_get_verify_result(ssl_.get()) == X509_V_OK) decoded = internal::decode_certificate(cert);
  X509_free(cert);
  return decoded;
}

std::string SSLObject::getpeercert_der() const {
  X509* cert = SSL_get_peer_certificate(ssl_.get());
  if (cert == nullptr) return "";
  uint8_t* der = nullptr;
  int length = i2d_X509(cert, &der);
  std::string out;
  if (length > 0) out.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  X509_free(cert);
  return out;
}

bool SSLObject::session_reused() const { return SSL_session_reused(ssl_.get()) == 1; }

std::optional<std::string> SSLObject::server_hostname() const {
  if (server_side_ || server_hostname_.empty()) return std::nullopt;
  return server_hostname_;
}

}  // namespace aio::tls
