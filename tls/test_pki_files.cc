#include "tls/test_pki_files.h"

#include "tls/test_pki.h"

namespace aio::tls::testing {

PkiFiles pki_files() {
  const TestPki& set = pki();
  return {set.ca_cert, set.server_cert, set.server_key, set.rogue_cert, set.rogue_key};
}

}  // namespace aio::tls::testing
