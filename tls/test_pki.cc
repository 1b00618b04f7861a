#include "tls/test_pki.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace aio::tls::testing {
namespace {

void run(const std::string& command) {
  std::string quiet = command + " >/dev/null 2>&1";
  if (std::system(quiet.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A key and a certificate signed by `ca` (self-signed when `ca` is empty).
void make_cert(const std::string& dir, const std::string& name, const std::string& subject,
               const std::string& extensions, const std::string& ca, const std::string& days) {
  std::string key = dir + "/" + name + ".key", cert = dir + "/" + name + ".pem";
  std::string ext = dir + "/" + name + ".ext";
  write_file(ext, extensions);
  run("openssl ecparam -name prime256v1 -genkey -noout -out " + key);
  if (ca.empty()) {
    run("openssl req -x509 -new -key " + key + " -out " + cert + " -days " + days + " -subj '" +
        subject + "' -extensions v3 -config " + ext);
    return;
  }
  std::string csr = dir + "/" + name + ".csr";
  run("openssl req -new -key " + key + " -out " + csr + " -subj '" + subject + "'");
  run("openssl x509 -req -in " + csr + " -CA " + dir + "/" + ca + ".pem -CAkey " + dir + "/" + ca +
      ".key -set_serial 0x" + std::to_string(10000 + name.size() * 17) + "ABCDEF -out " + cert +
      " -extfile " + ext + " -extensions v3 " + days);
}

struct Owned {
  TestPki pki;
  ~Owned() {
    if (!pki.dir.empty()) std::system(("rm -rf '" + pki.dir + "'").c_str());
  }
};

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<SSLContext> TestPki::server_context() const {
  auto context = SSLContext::create(PROTOCOL_TLS_SERVER);
  context->load_cert_chain(server_cert, server_key);
  return context;
}

std::shared_ptr<SSLContext> TestPki::client_context() const {
  auto context = SSLContext::create(PROTOCOL_TLS_CLIENT);
  context->load_verify_locations(ca_cert);
  return context;
}

static void make_all(TestPki& p) {
  char pattern[] = "/tmp/aio-tls-pki-XXXXXX";
  if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  p.dir = pattern;
  const std::string& d = p.dir;
  std::string ca_ext =
      "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\n"
      "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n";
  make_cert(d, "ca", "/O=aio tests/CN=aio test CA", ca_ext, "", "30");
  make_cert(d, "rogue_ca", "/CN=rogue CA", ca_ext, "", "30");
  std::string leaf =
      "[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
      "authorityKeyIdentifier=keyid\n";
  std::string localhost = leaf +
                          "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                          "extendedKeyUsage=serverAuth\n";
  make_cert(d, "server", "/O=aio tests/CN=localhost", localhost, "ca", "-days 30");
  make_cert(d, "client", "/O=aio tests/CN=aio-client", leaf + "extendedKeyUsage=clientAuth\n", "ca",
            "-days 30");
  make_cert(d, "rogue", "/CN=localhost", localhost, "rogue_ca", "-days 30");
  make_cert(d, "wrong_name", "/CN=example.org",
            leaf + "subjectAltName=DNS:example.org\nextendedKeyUsage=serverAuth\n", "ca",
            "-days 30");
  // Expired: notAfter a day before notBefore (OpenSSL 3.0's x509 -req takes -days -1).
  p.expired_key = d + "/expired.key";
  p.expired_cert = d + "/expired.pem";
  run("openssl ecparam -name prime256v1 -genkey -noout -out " + p.expired_key);
  run("openssl req -new -key " + p.expired_key + " -out " + d +
      "/expired.csr -subj '/CN=localhost'");
  write_file(d + "/expired.ext", localhost);
  run("openssl x509 -req -in " + d + "/expired.csr -CA " + d + "/ca.pem -CAkey " + d +
      "/ca.key -set_serial 77 -out " + p.expired_cert + " -extfile " + d +
      "/expired.ext -extensions v3 -days -1");
  p.ca_cert = d + "/ca.pem";
  p.ca_key = d + "/ca.key";
  p.server_cert = d + "/server.pem";
  p.server_key = d + "/server.key";
  p.client_cert = d + "/client.pem";
  p.client_key = d + "/client.key";
  p.rogue_ca_cert = d + "/rogue_ca.pem";
  p.rogue_cert = d + "/rogue.pem";
  p.rogue_key = d + "/rogue.key";
  p.wrong_name_cert = d + "/wrong_name.pem";
  p.wrong_name_key = d + "/wrong_name.key";
}

const TestPki& pki() {
  static Owned owned;  // removes the directory at exit
  static const bool made = [] {
    make_all(owned.pki);
    return true;
  }();
  (void)made;
  return owned.pki;
}

}  // namespace aio::tls::testing
