// SSLContext::load_cert_chain(certfile, keyfile, password): keys encrypted by the openssl CLI at
// test time (PKCS#8 PBES2 and traditional PEM encryption), the password as a string or a
// callable, and CPython's errors (test_ssl's test_load_cert_chain, as far as C++ types allow).
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "tls/tls_test_util.h"

namespace aio::tls {
namespace {

using testing::close_server;
using testing::echo_protocols;
using testing::pki;
using testing::port_of;
using testing::RecordingFactory;
using testing::RecordingProtocol;
using testing::TempDir;

constexpr const char* kPassword = "s3cret pass";

void run(const std::string& command) {
  std::string quiet = command + " >/dev/null 2>&1";
  if (std::system(quiet.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// The server key of the test PKI, encrypted three ways with `password`.
struct EncryptedKeys {
  TempDir dir;
  std::string pkcs8 = dir.file("pkcs8.key");              // BEGIN ENCRYPTED PRIVATE KEY
  std::string traditional = dir.file("traditional.key");  // Proc-Type: 4,ENCRYPTED
  std::string combined = dir.file("combined.pem");        // certificate + encrypted key

  explicit EncryptedKeys(const std::string& password) {
    // pass: rather than file:, which the CLI truncates to 1023 bytes.
    std::string pass = " -passout 'pass:" + password + "'";
    run("openssl pkcs8 -topk8 -v2 aes-256-cbc -in " + pki().server_key + " -out " + pkcs8 + pass);
    run("openssl ec -aes128 -in " + pki().server_key + " -out " + traditional + pass);
    std::ofstream(combined) << testing::read_file(pki().server_cert) << testing::read_file(pkcs8);
  }
};

const EncryptedKeys& keys() {
  static const EncryptedKeys made(kPassword);
  return made;
}

std::string failure(const std::function<void()>& action) {
  try {
    action();
  } catch (...) {
    return describe_exception(std::current_exception());
  }
  return "<no exception>";
}

// One TLS round trip to a server using `context`: the decrypted key really signs.
void expect_echo(const std::shared_ptr<SSLContext>& context) {
  EventLoop loop;
  ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = "0";
  options.ssl = context;
  ServerRef server =
      loop.run_until_complete(create_server(loop, echo_protocols(), std::move(options)));
  ConnectionOptions to;
  to.host = "127.0.0.1";
  to.port = std::to_string(port_of(server));
  to.ssl = pki().client_context();
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(
      aio::wait_for(create_connection(loop, client_side.factory(), std::move(to)), 20));
  transport->write("signed with a decrypted key");
  RecordingProtocol& client = *client_side.made.at(0);
  EXPECT_TRUE(aio::testing::run_until(loop, [&] { return client.received.size() == 27; }));
  EXPECT_EQ(client.received, "signed with a decrypted key");
  transport->close();
  EXPECT_TRUE(aio::testing::run_until(loop, [&] { return client.lost(); }));
  close_server(loop, server);
}

TEST(ContextPasswordTest, StringPasswordDecryptsPkcs8TraditionalAndCombinedFiles) {
  for (const std::string& key : {keys().pkcs8, keys().traditional}) {
    auto context = SSLContext::create(PROTOCOL_TLS_SERVER);
    context->load_cert_chain(pki().server_cert, key, kPassword);
    expect_echo(context);
  }
  auto context = SSLContext::create(PROTOCOL_TLS_SERVER);
  context->load_cert_chain(keys().combined, std::nullopt, std::string(kPassword));
  expect_echo(context);
}

TEST(ContextPasswordTest, CallableIsCalledOnceAndOnlyForAnEncryptedKey) {
  int calls = 0;
  auto getpass = [&calls] {
    ++calls;
    return std::string(kPassword);
  };
  auto context = SSLContext::create(PROTOCOL_TLS_SERVER);
  context->load_cert_chain(pki().server_cert, keys().pkcs8, getpass);
  EXPECT_EQ(calls, 1);
  expect_echo(context);
  // CPython: "Make sure the password function isn't called if it isn't needed".
  auto plain = SSLContext::create(PROTOCOL_TLS_SERVER);
  plain->load_cert_chain(pki().server_cert, pki().server_key, [&calls]() -> std::string {
    ++calls;
    throw std::runtime_error("getpass error");
  });
  EXPECT_EQ(calls, 1);
  expect_echo(plain);
}

TEST(ContextPasswordTest, WrongOrMissingPasswordIsAnSslError) {
  auto context = SSLContext::create(PROTOCOL_TLS_SERVER);
  for (const std::string& key : {keys().pkcs8, keys().traditional}) {
    std::string wrong =
        failure([&] { context->load_cert_chain(pki().server_cert, key, "badpass"); });
    EXPECT_TRUE(wrong.starts_with("aio::tls::SSLError: [")) << wrong;
    EXPECT_NE(wrong.find("(keyfile " + key + ")"), std::string::npos) << wrong;
    // No password: BoringSSL never prompts, it fails.
    std::string none = failure([&] { context->load_cert_chain(pki().server_cert, key); });
    EXPECT_TRUE(none.starts_with("aio::tls::SSLError: [")) << none;
    std::string empty = failure([&] { context->load_cert_chain(pki().server_cert, key, ""); });
    EXPECT_TRUE(empty.starts_with("aio::tls::SSLError: [")) << empty;
  }
  // The failures left the context usable: the right password still works.
  context->load_cert_chain(pki().server_cert, keys().pkcs8, kPassword);
  expect_echo(context);
}

TEST(ContextPasswordTest, ThePasswordIsNotRememberedForTheNextLoad) {
  auto context = SSLContext::create(PROTOCOL_TLS_SERVER);
  context->load_cert_chain(pki().server_cert, keys().pkcs8, kPassword);
  std::string again = failure([&] { context->load_cert_chain(pki().server_cert, keys().pkcs8); });
  EXPECT_TRUE(again.starts_with("aio::tls::SSLError: [")) << again;
}

TEST(ContextPasswordTest, PasswordLongerThanPemBufferIsAValueError) {
  auto context = SSLContext::create(PROTOCOL_TLS_SERVER);
  const std::string huge(102400, 'a');
  const std::string expected = "aio::ValueError: password cannot be longer than 1024 bytes";
  EXPECT_EQ(failure([&] { context->load_cert_chain(pki().server_cert, keys().pkcs8, huge); }),
            expected);
  EXPECT_EQ(failure([&] {
              context->load_cert_chain(pki().server_cert, keys().pkcs8, [&] { return huge; });
            }),
            expected);
  // Exactly 1024 bytes fits (the openssl CLI encrypted the key with it).
  const std::string longest(1024, 'p');
  EncryptedKeys long_keys(longest);
  context->load_cert_chain(pki().server_cert, long_keys.pkcs8, longest);
  expect_echo(context);
}

TEST(ContextPasswordTest, WhatTheCallableThrowsPropagatesAndAnEmptyCallableIsATypeError) {
  auto context = SSLContext::create(PROTOCOL_TLS_SERVER);
  EXPECT_EQ(failure([&] {
              context->load_cert_chain(pki().server_cert, keys().pkcs8, []() -> std::string {
                throw std::runtime_error("getpass error");
              });
            }),
            "std::runtime_error: getpass error");
  EXPECT_EQ(failure([&] {
              context->load_cert_chain(pki().server_cert, keys().pkcs8,
                                       std::function<std::string()>());
            }),
            "aio::TypeError: password should be a string or callable");
  // Argument errors come before file errors, as in CPython.
  EXPECT_EQ(failure([&] {
              context->load_cert_chain("/nonexistent/cert.pem", std::nullopt,
                                       std::function<std::string()>());
            }),
            "aio::TypeError: password should be a string or callable");
}

}  // namespace
}  // namespace aio::tls
