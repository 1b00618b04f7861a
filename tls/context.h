// aio::tls::SSLContext: Python's ssl.SSLContext over a BoringSSL SSL_CTX. A reference type:
// every connection made with it shares it (std::shared_ptr), and it is freed when the last
// owner (the user, or a connection) lets go, so no context outlives its connections and no
// connection outlives its context.
#ifndef AIO_TLS_CONTEXT_H_
#define AIO_TLS_CONTEXT_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/transport_security.h"

struct ssl_ctx_st;
struct ssl_st;
struct ssl_session_st;

namespace aio::tls {

// asyncio's SSL_HANDSHAKE_TIMEOUT: ssl_handshake_timeout when none is given.
inline constexpr double kDefaultHandshakeTimeout = 60.0;

// ssl.PROTOCOL_TLS_CLIENT / PROTOCOL_TLS_SERVER.
enum class ContextProtocol { TLS_CLIENT, TLS_SERVER };
inline constexpr ContextProtocol PROTOCOL_TLS_CLIENT = ContextProtocol::TLS_CLIENT;
inline constexpr ContextProtocol PROTOCOL_TLS_SERVER = ContextProtocol::TLS_SERVER;
// ssl.Purpose: SERVER_AUTH makes a client context (it authenticates servers), CLIENT_AUTH a
// server context.
enum class Purpose { SERVER_AUTH, CLIENT_AUTH };
// ssl.CERT_NONE / CERT_OPTIONAL / CERT_REQUIRED.
enum class VerifyMode { CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED };
// ssl.TLSVersion (BoringSSL has no SSLv3).
enum class TLSVersion { MINIMUM_SUPPORTED, TLSv1, TLSv1_1, TLSv1_2, TLSv1_3, MAXIMUM_SUPPORTED };

// load_cert_chain's password=: the passphrase itself (Python's str and bytes are both a
// std::string here) or a callable returning it, called only if the key is encrypted.
using Password = std::variant<std::string, std::function<std::string()>>;

class SSLContext final : public TransportSecurity, public std::enable_shared_from_this<SSLContext> {
 public:
  // SSLContext(PROTOCOL_TLS_CLIENT): verify_mode CERT_REQUIRED, check_hostname on, no trust
  // anchors yet. SSLContext(PROTOCOL_TLS_SERVER): CERT_NONE, check_hostname off.
  static std::shared_ptr<SSLContext> create(ContextProtocol protocol);
  ~SSLContext() override;
  SSLContext(const SSLContext&) = delete;
  SSLContext& operator=(const SSLContext&) = delete;

  ContextProtocol protocol() const { return protocol_; }

  // Trust anchors: a PEM file, a directory of hashed certificates (c_rehash layout), and/or PEM
  // text. FileNotFoundError for a missing file or directory; SSLError for a file that holds no
  // certificate; TypeError when all three are unset (Python's "cafile, capath and cadata cannot
  // be all omitted").
  void load_verify_locations(std::optional<std::string> cafile = std::nullopt,
                             std::optional<std::string> capath = std::nullopt,
                             std::optional<std::string> cadata = std::nullopt);
  // The system store (/etc/ssl/certs, or $SSL_CERT_FILE / $SSL_CERT_DIR as OpenSSL honours them).
  void load_default_certs(Purpose purpose = Purpose::SERVER_AUTH);
  // Our certificate chain (PEM, leaf first) and its private key (`keyfile`, or the same file).
  // FileNotFoundError "[Errno 2] No such file or directory: 'path'" for a missing file;
  // SSLError "[SSL: KEY_VALUES_MISMATCH] key values mismatch" for a key that is not the
  // certificate's; SSLError for a file that is not PEM.
  // `password` decrypts an encrypted key (PKCS#8 "ENCRYPTED PRIVATE KEY" or a traditional PEM
  // "Proc-Type: 4,ENCRYPTED" key): a wrong one, or none for an encrypted key, is an SSLError
  // (Python would prompt on the terminal when none is given; BoringSSL never prompts);
  // ValueError "password cannot be longer than 1024 bytes"; TypeError "password should be a
  // string or callable" for an empty std::function; whatever the callable throws propagates.
  void load_cert_chain(const std::string& certfile,
                       std::optional<std::string> keyfile = std::nullopt,
                       std::optional<Password> password = std::nullopt);

  bool check_hostname() const;
  // On: verify_mode becomes CERT_REQUIRED if it was CERT_NONE (Python 3.7+).
  void set_check_hostname(bool on);
  VerifyMode verify_mode() const;
  // ValueError "Cannot set verify_mode to CERT_NONE when check_hostname is enabled."
  void set_verify_mode(VerifyMode mode);

  // ALPN, most preferred first; ValueError for an empty or over-long (> 255 bytes) name.
  void set_alpn_protocols(const std::vector<std::string>& protocols);
  // An OpenSSL cipher string (TLS 1.2 and below; TLS 1.3 suites are fixed, as in Python).
  // SSLError "('No cipher can be selected.',)" when nothing matches.
  void set_ciphers(const std::string& ciphers);
  TLSVersion minimum_version() const;
  TLSVersion maximum_version() const;
  void set_minimum_version(TLSVersion version);
  void set_maximum_version(TLSVersion version);

  // A client context remembers the last session of each server_hostname and offers it on the
  // next connection to the same name (ssl_object's session_reused() tells if it was resumed).
  // Python needs the session passed by hand; here it is automatic. Off: no resumption.
  void set_session_reuse(bool on);
  bool session_reuse() const;

  // The underlying SSL_CTX (borrowed), for settings this class does not cover.
  ssl_ctx_st* native() const { return ctx_; }

  // A new SSL object for one connection, configured from this context: the client's SNI,
  // hostname (or IP) check and a saved session. Internal (the TLS engine uses it).
  ssl_st* new_ssl(bool server_side, const std::string& server_hostname) const;

  // TransportSecurity: starts an SslProtocol for a new connection.
  Wrapped wrap(EventLoop& loop, std::shared_ptr<BaseProtocol> app,
               std::optional<Future<void>> waiter, bool server_side,
               const std::string& server_hostname,
               std::optional<double> handshake_timeout) override;

 private:
  explicit SSLContext(ContextProtocol protocol);
  static int on_new_session(ssl_st* ssl, ssl_session_st* session);

  ContextProtocol protocol_;
  ssl_ctx_st* ctx_;
  bool check_hostname_;
  VerifyMode verify_mode_;
  TLSVersion minimum_ = TLSVersion::MINIMUM_SUPPORTED;
  TLSVersion maximum_ = TLSVersion::MAXIMUM_SUPPORTED;
  bool session_reuse_ = true;
  mutable std::mutex sessions_mutex_;  // connections on several loops (threads) may share it
  std::map<std::string, ssl_session_st*> sessions_;
  std::string alpn_;  // wire format (length-prefixed), for the server's choice
};

// ssl.create_default_context(purpose, cafile, capath, cadata): SERVER_AUTH gives a client
// context (CERT_REQUIRED, check_hostname) trusting the given anchors, or the system store when
// none is given; CLIENT_AUTH a server context. Both refuse versions below TLS 1.2.
std::shared_ptr<SSLContext> create_default_context(
    Purpose purpose = Purpose::SERVER_AUTH, std::optional<std::string> cafile = std::nullopt,
    std::optional<std::string> capath = std::nullopt,
    std::optional<std::string> cadata = std::nullopt);

}  // namespace aio::tls

#endif  // AIO_TLS_CONTEXT_H_
