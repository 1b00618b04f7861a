// libFuzzer target: arbitrary bytes arrive "from the network" at the server side or the client
// side (the first byte chooses) of a TLS connection, through the real code: a SocketTransport on
// one end of a socketpair, SslProtocol, the engine, an application protocol. The other end is
// written by the fuzzer and then shut down, so every input ends the connection; the harness
// checks that it ends cleanly (protocol callbacks in order, nothing left open).
//
//   bazel build //tls:ssl_protocol_fuzzer && bazel-bin/tls/ssl_protocol_fuzzer -max_total_time=60
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "loop/combinators.h"
#include "loop/event_loop.h"
#include "loop/task.h"
#include "net/net.h"
#include "tls/tls.h"

namespace {

// A P-256 key and a self-signed certificate made in memory (no files, no openssl CLI).
void use_self_signed(aio::tls::SSLContext& context) {
  EC_KEY* ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  EC_KEY_generate_key(ec);
  EVP_PKEY* key = EVP_PKEY_new();
  EVP_PKEY_assign_EC_KEY(key, ec);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  SSL_CTX_use_certificate(context.native(), cert);
  SSL_CTX_use_PrivateKey(context.native(), key);
  X509_free(cert);
  EVP_PKEY_free(key);
}

// Checks the callback contract as it goes; aborts (a finding) when it is broken.
class Checked : public aio::Protocol {
 public:
  void connection_made(aio::Transport& transport) override {
    if (made_ || lost) std::abort();
    made_ = true;
  }
  void data_received(std::span<const std::byte>) override {
    if (!made_ || lost || eof_) std::abort();
  }
  bool eof_received() override {
    if (!made_ || lost || eof_) std::abort();
    eof_ = true;
    return false;
  }
  void connection_lost(std::exception_ptr) override {
    if (!made_ || lost) std::abort();
    lost = true;
  }
  bool lost = false;

 private:
  bool made_ = false, eof_ = false;
};

aio::Coro<void> connect(aio::EventLoop& loop, bool server_side, aio::Socket sock,
                        std::shared_ptr<Checked> protocol,
                        std::shared_ptr<aio::tls::SSLContext> context) {
  aio::ProtocolFactory factory = [protocol] { return protocol; };
  try {
    aio::Connection<> connection =
        server_side
            ? co_await aio::connect_accepted_socket(loop, factory, std::move(sock),
                                                    {context, {}, 5.0})
            : co_await aio::create_unix_connection(loop, factory, std::nullopt, std::move(sock),
                                                   {context, "localhost", 5.0});
    connection.first->write("reply");
  } catch (...) {
    // Failed handshakes are the expected outcome of almost every input.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static aio::EventLoop* loop = new aio::EventLoop();
  static std::shared_ptr<aio::tls::SSLContext> server_context = [] {
    auto context = aio::tls::SSLContext::create(aio::tls::PROTOCOL_TLS_SERVER);
    use_self_signed(*context);
    return context;
  }();
  static std::shared_ptr<aio::tls::SSLContext> client_context = [] {
    auto context = aio::tls::SSLContext::create(aio::tls::PROTOCOL_TLS_CLIENT);
    context->set_check_hostname(false);  // let inputs get past verification
    context->set_verify_mode(aio::tls::VerifyMode::CERT_NONE);
    return context;
  }();
  if (size == 0 || size > 65536) return 0;
  bool server_side = (data[0] & 1) == 0;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  // The network side: everything at once, then EOF.
  for (size_t at = 1; at < size;) {
    ssize_t n = ::send(fds[1], data + at, size - at, MSG_NOSIGNAL);
    if (n <= 0) break;
    at += static_cast<size_t>(n);
  }
  ::shutdown(fds[1], SHUT_WR);
  auto protocol = std::make_shared<Checked>();
  aio::Task<void> task =
      loop->create_task(connect(*loop, server_side, aio::Socket(fds[0]), protocol,
                                server_side ? server_context : client_context));
  loop->run_until_complete(aio::wait_for(task, 10));
  // A connection that was made ends with the peer's EOF; wait for its connection_lost.
  for (int i = 0; i < 1000 && protocol.use_count() > 1 && !protocol->lost; ++i) {
    loop->run_until_complete(aio::sleep(0));
  }
  char drain[4096];
  while (::recv(fds[1], drain, sizeof drain, MSG_DONTWAIT) > 0) {
  }
  ::close(fds[1]);
  return 0;
}
