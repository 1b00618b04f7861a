// Test certificates made at test time with the openssl CLI: a CA, a server certificate for
// localhost (DNS:localhost, IP:127.0.0.1, IP:::1), a client certificate for mutual TLS, and a
// second CA nobody trusts with a "localhost" certificate of its own. One set per test binary,
// in a temporary directory removed at exit.
#ifndef AIO_TLS_TEST_PKI_H_
#define AIO_TLS_TEST_PKI_H_

#include <memory>
#include <string>

#include "tls/context.h"

namespace aio::tls::testing {

struct TestPki {
  std::string dir;
  std::string ca_cert, ca_key;
  std::string server_cert, server_key;               // CN=localhost
  std::string client_cert, client_key;               // CN=aio-client
  std::string rogue_ca_cert, rogue_cert, rogue_key;  // CN=localhost, from the untrusted CA
  std::string expired_cert, expired_key;             // CN=localhost, expired a year ago
  std::string wrong_name_cert, wrong_name_key;       // CN=example.org, DNS:example.org only

  // A server context with our server certificate; a client context trusting our CA.
  std::shared_ptr<SSLContext> server_context() const;
  std::shared_ptr<SSLContext> client_context() const;
};

// The one set (made on first use). Throws std::runtime_error if openssl fails.
const TestPki& pki();

// The text of a file.
std::string read_file(const std::string& path);

}  // namespace aio::tls::testing

#endif  // AIO_TLS_TEST_PKI_H_
