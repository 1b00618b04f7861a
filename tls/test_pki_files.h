// The test certificates' file paths (tls/test_pki.h's set) as plain strings, for a test that
// must see //tls only through `import aio.tls;`: including test_pki.h would also declare
// SSLContext & co. from the headers and hide a name the module fails to export.
#ifndef AIO_TLS_TEST_PKI_FILES_H_
#define AIO_TLS_TEST_PKI_FILES_H_

#include <string>

namespace aio::tls::testing {

struct PkiFiles {
  std::string ca_cert;                  // the CA the client trusts
  std::string server_cert, server_key;  // CN=localhost, IP:127.0.0.1
  std::string rogue_cert, rogue_key;    // CN=localhost, from a CA nobody trusts
};

// The files of pki() (made on first use, removed at exit).
PkiFiles pki_files();

}  // namespace aio::tls::testing

#endif  // AIO_TLS_TEST_PKI_FILES_H_
