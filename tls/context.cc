#include "tls/context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "loop/errors.h"
#include "tls/errors.h"
#include "tls/ssl_protocol.h"

namespace aio::tls {
namespace {

// Where a client SSL remembers its session key (the server_hostname) for on_new_session.
int session_key_index() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::string*>(ptr);
      });
  return index;
}

int context_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

[[noreturn]] void throw_missing(const std::string& path) {
  throw_os_error(ENOENT, "No such file or directory: '" + path + "'", /*replaces_strerror=*/true);
}

bool exists(const std::string& path, bool directory) {
  struct stat info{};
  if (::stat(path.c_str(), &info) != 0) return false;
  return directory ? S_ISDIR(info.st_mode) : !S_ISDIR(info.st_mode);
}

uint16_t wire_version(TLSVersion version) {
  switch (version) {
    case TLSVersion::TLSv1:
      return TLS1_VERSION;
    case TLSVersion::TLSv1_1:
      return TLS1_1_VERSION;
    case TLSVersion::TLSv1_2:
      return TLS1_2_VERSION;
    case TLSVersion::TLSv1_3:
      return TLS1_3_VERSION;
    default:
      return 0;  // BoringSSL's own bound
  }
}

bool is_ip_address(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// The server's ALPN choice: its own most preferred protocol the client also offers (CPython's
// order); no overlap means no ALPN (the handshake goes on).
int select_alpn(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len,
                void* arg) {
  auto* ours = static_cast<const std::string*>(arg);
  uint8_t* chosen = nullptr;
  if (ours->empty() ||
      SSL_select_next_proto(&chosen, out_len, reinterpret_cast<const uint8_t*>(ours->data()),
                            static_cast<unsigned>(ours->size()), in,
                            in_len) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::shared_ptr<SSLContext> SSLContext::create(ContextProtocol protocol) {
  return std::shared_ptr<SSLContext>(new SSLContext(protocol));
}

SSLContext::SSLContext(ContextProtocol protocol)
    : protocol_(protocol),
      ctx_(SSL_CTX_new(TLS_method())),
      check_hostname_(protocol == PROTOCOL_TLS_CLIENT),
      verify_mode_(protocol == PROTOCOL_TLS_CLIENT ? VerifyMode::CERT_REQUIRED
                                                   : VerifyMode::CERT_NONE) {
  if (ctx_ == nullptr) internal::throw_queued_error("SSL_CTX_new failed");
  SSL_CTX_set_ex_data(ctx_, context_index(), this);
  set_verify_mode(verify_mode_);
  // A partial write must be retried with the same bytes; the SslProtocol keeps them.
  SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (protocol == PROTOCOL_TLS_CLIENT) {
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx_, &SSLContext::on_new_session);
  }
  SSL_CTX_set_alpn_select_cb(ctx_, select_alpn, &alpn_);
}

SSLContext::~SSLContext() {
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

void SSLContext::load_verify_locations(std::optional<std::string> cafile,
                                       std::optional<std::string> capath,
                                       std::optional<std::string> cadata) {
  if (!cafile && !capath && !cadata) {
    throw TypeError("cafile, capath and cadata cannot be all omitted");
  }
  if (cafile) {
    if (!exists(*cafile, false)) throw_missing(*cafile);
    if (SSL_CTX_load_verify_locations(ctx_, cafile->c_str(), nullptr) != 1) {
      internal::throw_queued_error("cafile " + *cafile);
    }
  }
  if (capath) {
    if (!exists(*capath, true)) throw_missing(*capath);
    if (SSL_CTX_load_verify_locations(ctx_, nullptr, capath->c_str()) != 1) {
      internal::throw_queued_error("capath " + *capath);
    }
  }
  if (cadata) {
    BIO* bio = BIO_new_mem_buf(cadata->data(), static_cast<int>(cadata->size()));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    int loaded = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);  // a duplicate is not an error
      X509_free(cert);
      ++loaded;
    }
    BIO_free(bio);
    ERR_clear_error();  // the end of the data reads as "no start line"
    if (loaded == 0) {
      throw SSLError(SSL_ERROR_SSL, "X509", "NO_CERTIFICATE_OR_CRL_FOUND",
                     "[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found");
    }
  }
}

void SSLContext::load_default_certs(Purpose) {
  // OpenSSL's environment variables first, as Python's set_default_verify_paths honours them.
  const char* file = std::getenv("SSL_CERT_FILE");
  const char* dir = std::getenv("SSL_CERT_DIR");
  std::string cafile = file != nullptr ? file : "/etc/ssl/certs/ca-certificates.crt";
  std::string capath = dir != nullptr ? dir : "/etc/ssl/certs";
  bool have_file = exists(cafile, false), have_dir = exists(capath, true);
  if (!have_file && !have_dir) return;  // no system store: nothing trusted, as Python
  if (SSL_CTX_load_verify_locations(ctx_, have_file ? cafile.c_str() : nullptr,
                                    have_dir ? capath.c_str() : nullptr) != 1) {
    internal::throw_queued_error("default verify paths");
  }
}

namespace {

// What the PEM password callback needs: the password (or its source) and, because nothing may
// be thrown through BoringSSL's C frames, the exception to rethrow once the load has returned.
struct PasswordRequest {
  const Password* password;
  std::exception_ptr error;
};

int password_callback(char* buf, int size, int /*rwflag*/, void* userdata) {
  auto* request = static_cast<PasswordRequest*>(userdata);
  try {
    const Password& source = *request->password;
    std::string text = std::holds_alternative<std::string>(source)
                           ? std::get<std::string>(source)
                           : std::get<std::function<std::string()>>(source)();
    if (text.size() > static_cast<size_t>(size)) {
      throw ValueError("password cannot be longer than " + std::to_string(size) + " bytes");
    }
    std::memcpy(buf, text.data(), text.size());
    return static_cast<int>(text.size());
  } catch (...) {
    request->error = std::current_exception();
    return -1;
  }
}

// Installs the password callback on `ctx` for one load_cert_chain and puts back what was
// there before (as CPython does), also when the load throws.
class ScopedPasswordCallback {
 public:
  ScopedPasswordCallback(ssl_ctx_st* ctx, PasswordRequest* request)
      : ctx_(ctx),
        saved_callback_(SSL_CTX_get_default_passwd_cb(ctx)),
        saved_userdata_(SSL_CTX_get_default_passwd_cb_userdata(ctx)) {
    if (request == nullptr) return;
    SSL_CTX_set_default_passwd_cb(ctx, password_callback);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, request);
  }
  ~ScopedPasswordCallback() {
    SSL_CTX_set_default_passwd_cb(ctx_, saved_callback_);
    SSL_CTX_set_default_passwd_cb_userdata(ctx_, saved_userdata_);
  }
  ScopedPasswordCallback(const ScopedPasswordCallback&) = delete;
  ScopedPasswordCallback& operator=(const ScopedPasswordCallback&) = delete;

 private:
  ssl_ctx_st* ctx_;
  pem_password_cb* saved_callback_;
  void* saved_userdata_;
};

}  // namespace

void SSLContext::load_cert_chain(const std::string& certfile, std::optional<std::string> keyfile,
                                 std::optional<Password> password) {
  const std::string& key = keyfile ? *keyfile : certfile;
  if (password && std::holds_alternative<std::function<std::string()>>(*password) &&
      !std::get<std::function<std::string()>>(*password)) {
    throw TypeError("password should be a string or callable");
  }
  if (!exists(certfile, false)) throw_missing(certfile);
  if (!exists(key, false)) throw_missing(key);
  PasswordRequest request{password ? &*password : nullptr, nullptr};
  ScopedPasswordCallback scoped(ctx_, password ? &request : nullptr);
  // A failure the callback caused (it threw) wins over what BoringSSL queued because of it.
  auto fail = [&request](const std::string& what) {
    if (request.error) {
      ERR_clear_error();
      std::rethrow_exception(request.error);
    }
    internal::throw_queued_error(what);
  };
  if (SSL_CTX_use_certificate_chain_file(ctx_, certfile.c_str()) != 1) fail("certfile " + certfile);
  if (SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1) fail("keyfile " + key);
  if (SSL_CTX_check_private_key(ctx_) != 1) internal::throw_queued_error("keyfile " + key);
}

bool SSLContext::check_hostname() const { return check_hostname_; }

void SSLContext::set_check_hostname(bool on) {
  if (on && verify_mode_ == VerifyMode::CERT_NONE) set_verify_mode(VerifyMode::CERT_REQUIRED);
  check_hostname_ = on;
}

VerifyMode SSLContext::verify_mode() const { return verify_mode_; }

void SSLContext::set_verify_mode(VerifyMode mode) {
  if (mode == VerifyMode::CERT_NONE && check_hostname_) {
    throw ValueError("Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
  }
  int flags = SSL_VERIFY_NONE;
  if (mode == VerifyMode::CERT_OPTIONAL) flags = SSL_VERIFY_PEER;
  if (mode == VerifyMode::CERT_REQUIRED) {
    flags = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(ctx_, flags, nullptr);
  verify_mode_ = mode;
}

void SSLContext::set_alpn_protocols(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& name : protocols) {
    if (name.empty() || name.size() > 255) {
      throw ValueError("ALPN protocols must be 1 to 255 in length");
    }
    wire += static_cast<char>(name.size());
    wire += name;
  }
  alpn_ = wire;
  if (SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const uint8_t*>(alpn_.data()), alpn_.size()) !=
      0) {
    internal::throw_queued_error("set_alpn_protocols");
  }
}

void SSLContext::set_ciphers(const std::string& ciphers) {
  if (SSL_CTX_set_strict_cipher_list(ctx_, ciphers.c_str()) != 1) {
    ERR_clear_error();
    throw SSLError(SSL_ERROR_SSL, "SSL", "", "('No cipher can be selected.',)");
  }
}

TLSVersion SSLContext::minimum_version() const { return minimum_; }
TLSVersion SSLContext::maximum_version() const { return maximum_; }

void SSLContext::set_minimum_version(TLSVersion version) {
  SSL_CTX_set_min_proto_version(ctx_, wire_version(version));
  minimum_ = version;
}

void SSLContext::set_maximum_version(TLSVersion version) {
  SSL_CTX_set_max_proto_version(ctx_, wire_version(version));
  maximum_ = version;
}

void SSLContext::set_session_reuse(bool on) {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  session_reuse_ = on;
}

bool SSLContext::session_reuse() const {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  return session_reuse_;
}

ssl_st* SSLContext::new_ssl(bool server_side, const std::string& server_hostname) const {
  // Python's rule (CPython's newPySSLSocket): a context is made for one side.
  if (server_side && protocol_ == PROTOCOL_TLS_CLIENT) {
    throw ValueError("Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
  }
  if (!server_side && protocol_ == PROTOCOL_TLS_SERVER) {
    throw ValueError("Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
  }
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) internal::throw_queued_error("SSL_new failed");
  if (server_side) {
    SSL_set_accept_state(ssl);
    return ssl;
  }
  SSL_set_connect_state(ssl);
  if (!server_hostname.empty()) {
    bool ip = is_ip_address(server_hostname);
    // No SNI for an IP address (RFC 6066), as Python.
    if (!ip) SSL_set_tlsext_host_name(ssl, server_hostname.c_str());
    if (check_hostname_) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      int ok =
          ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_hostname.c_str())
             : X509_VERIFY_PARAM_set1_host(param, server_hostname.c_str(), server_hostname.size());
      if (ok != 1) {
        SSL_free(ssl);
        throw ValueError("invalid server_hostname " + server_hostname);
      }
    }
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    if (session_reuse_) {
      SSL_set_ex_data(ssl, session_key_index(), new std::string(server_hostname));
      auto found = sessions_.find(server_hostname);
      if (found != sessions_.end()) SSL_set_session(ssl, found->second);
    }
  }
  return ssl;
}

int SSLContext::on_new_session(ssl_st* ssl, ssl_session_st* session) {
  auto* key = static_cast<std::string*>(SSL_get_ex_data(ssl, session_key_index()));
  auto* self = static_cast<SSLContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
  if (key == nullptr || self == nullptr) return 0;
  std::lock_guard<std::mutex> lock(self->sessions_mutex_);
  if (!self->session_reuse_) return 0;
  ssl_session_st*& slot = self->sessions_[*key];
  if (slot != nullptr) SSL_SESSION_free(slot);
  slot = session;  // we keep the reference BoringSSL gave us
  return 1;
}

TransportSecurity::Wrapped SSLContext::wrap(EventLoop& loop, std::shared_ptr<BaseProtocol> app,
                                            std::optional<Future<void>> waiter, bool server_side,
                                            const std::string& server_hostname,
                                            std::optional<double> handshake_timeout) {
  return internal::SslProtocol::start(loop, std::move(app), shared_from_this(), std::move(waiter),
                                      server_side, server_hostname, handshake_timeout,
                                      /*call_connection_made=*/true);
}

std::shared_ptr<SSLContext> create_default_context(Purpose purpose,
                                                   std::optional<std::string> cafile,
                                                   std::optional<std::string> capath,
                                                   std::optional<std::string> cadata) {
  std::shared_ptr<SSLContext> context = SSLContext::create(
      purpose == Purpose::SERVER_AUTH ? PROTOCOL_TLS_CLIENT : PROTOCOL_TLS_SERVER);
  context->set_minimum_version(TLSVersion::TLSv1_2);
  if (cafile || capath || cadata) {
    context->load_verify_locations(std::move(cafile), std::move(capath), std::move(cadata));
  } else if (context->verify_mode() != VerifyMode::CERT_NONE || purpose == Purpose::CLIENT_AUTH) {
    context->load_default_certs(purpose);
  }
  return context;
}

}  // namespace aio::tls
