// libFuzzer target: bytes "from the network" reach the server side or the client side of a TLS
// connection through the real code: a SocketTransport on one end of a socketpair, SslProtocol,
// the engine, an application protocol. The first byte chooses the side (bit 0) and the mode
// (bit 1):
// - raw: the rest is written to the other end at once, then EOF (the handshake parsers and
//   every early failure path);
// - scripted: a BoringSSL peer in the harness completes a real handshake over the other end,
//   then the rest is a script of operations on both ends (peer writes records, corrupts the
//   stream, sends close_notify / a KeyUpdate / EOF, reads; the application writes, pauses and
//   resumes reading, changes its buffer limits, closes, aborts), so the fuzzer reaches the data
//   path, flow control and the shutdown states, which no single flight of bytes can.
// Either way the connection ends; the harness checks the protocol callbacks' contract and that
// everything is released.
//
//   bazel build --config=fuzz //tls:ssl_protocol_fuzzer &&
//     bazel-bin/tls/ssl_protocol_fuzzer -max_total_time=60 CORPUS_DIR
#include <dirent.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
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

// Open descriptors of this process (entries of /proc/self/fd, less the directory's own).
int open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) std::abort();
  int count = 0;
  while (::readdir(dir) != nullptr) ++count;
  ::closedir(dir);
  return count - 3;  // ".", ".." and the directory itself
}

// What the scripted mode acts on: the application's transport once the handshake is done.
struct Connected {
  aio::TransportRef transport;
};

aio::Coro<void> connect(aio::EventLoop& loop, bool server_side, aio::Socket sock,
                        std::shared_ptr<Checked> protocol,
                        std::shared_ptr<aio::tls::SSLContext> context,
                        std::shared_ptr<Connected> connected) {
  aio::ProtocolFactory factory = [protocol] { return protocol; };
  try {
    aio::Connection<> connection =
        server_side
            ? co_await aio::connect_accepted_socket(loop, factory, std::move(sock),
                                                    {context, {}, 5.0})
            : co_await aio::create_unix_connection(loop, factory, std::nullopt, std::move(sock),
                                                   {context, "localhost", 5.0});
    connection.first->write("reply");
    if (connected) connected->transport = connection.first;
  } catch (...) {
    // Failed handshakes are the expected outcome of almost every raw input.
  }
}

void spin(aio::EventLoop& loop, int times = 1) {
  for (int i = 0; i < times; ++i) loop.run_until_complete(aio::sleep(0));
}

// Reads whatever the peer has (its SSL_read drives its side of the protocol, e.g. answering a
// close_notify); the bytes are not checked.
void peer_read(SSL* peer) {
  char buffer[16384];
  for (int i = 0; i < 64 && SSL_read(peer, buffer, sizeof buffer) > 0; ++i) {
  }
  ERR_clear_error();
}

// The scripted mode: a real handshake, then one operation per input byte (some take a length
// byte and that many bytes of payload), with the loop run between operations.
void run_script(aio::EventLoop& loop, SSL* peer, int peer_fd, const Connected& connected,
                const uint8_t* data, size_t size) {
  for (int i = 0; i < 200 && (SSL_in_init(peer) || !connected.transport); ++i) {
    SSL_do_handshake(peer);
    ERR_clear_error();
    spin(loop);
  }
  if (!connected.transport) return;
  aio::Transport& app = *connected.transport;
  std::string payload(65536, 'x');
  for (size_t at = 0; at < size;) {
    uint8_t op = data[at++] % 13;
    size_t length = at < size ? data[at++] : 0;
    size_t bytes = std::min(length * 64, payload.size());
    switch (op) {
      case 0:  // the peer sends an application record of fuzzer-chosen bytes
        bytes = std::min(length, size - at);
        if (bytes > 0) SSL_write(peer, data + at, static_cast<int>(bytes));
        at += bytes;
        break;
      case 1:  // the peer sends a large amount of data
        SSL_write(peer, payload.data(), static_cast<int>(bytes + 1));
        break;
      case 2:  // raw bytes into the TLS stream: a corrupted or injected record
        bytes = std::min(length, size - at);
        if (bytes > 0) (void)::send(peer_fd, data + at, bytes, MSG_NOSIGNAL);
        at += bytes;
        break;
      case 3:  // the peer's close_notify
        SSL_shutdown(peer);
        break;
      case 4:  // the peer updates its keys (a post-handshake message)
        SSL_key_update(peer, length & 1 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED);
        SSL_write(peer, "k", 1);
        break;
      case 5:  // EOF from the peer (a truncation unless close_notify came first)
        ::shutdown(peer_fd, SHUT_WR);
        break;
      case 6:
        peer_read(peer);
        break;
      case 7:
        app.write(std::string_view(payload.data(), bytes + 1));
        break;
      case 8:
        if (length & 1) {
          app.pause_reading();
        } else {
          app.resume_reading();
        }
        break;
      case 9:
        app.set_write_buffer_limits(length * 256);
        break;
      case 10:
        app.close();
        break;
      case 11:
        app.abort();
        break;
      case 12:
        spin(loop, static_cast<int>(length % 8));
        break;
    }
    ERR_clear_error();
    spin(loop);
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
  // The peer's SSL writes with write(2) to a socket aio may have closed: EPIPE, not SIGPIPE.
  static const bool sigpipe_ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)sigpipe_ignored;
  static SSL_CTX* peer_client = [] {
    SSL_CTX* ctx = SSL_CTX_new(TLS_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return ctx;
  }();
  static SSL_CTX* peer_server = [] {
    auto holder = aio::tls::SSLContext::create(aio::tls::PROTOCOL_TLS_SERVER);
    use_self_signed(*holder);
    SSL_CTX* ctx = holder->native();
    SSL_CTX_up_ref(ctx);
    return ctx;
  }();
  if (size == 0 || size > 65536) return 0;
  bool server_side = (data[0] & 1) == 0;
  bool scripted = (data[0] & 2) != 0;
  const int baseline = open_fds();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  auto protocol = std::make_shared<Checked>();
  auto connected = scripted ? std::make_shared<Connected>() : nullptr;
  SSL* peer = nullptr;
  if (scripted) {
    // The peer plays the other role, non-blocking on its end of the socketpair.
    int flags = 1;
    ::ioctl(fds[1], FIONBIO, &flags);
    peer = SSL_new(server_side ? peer_client : peer_server);
    SSL_set_fd(peer, fds[1]);
    if (server_side) {
      SSL_set_connect_state(peer);
    } else {
      SSL_set_accept_state(peer);
    }
  } else {
    // The network side: everything at once, then EOF.
    for (size_t at = 1; at < size;) {
      ssize_t n = ::send(fds[1], data + at, size - at, MSG_NOSIGNAL);
      if (n <= 0) break;
      at += static_cast<size_t>(n);
    }
    ::shutdown(fds[1], SHUT_WR);
  }
  aio::Task<void> task =
      loop->create_task(connect(*loop, server_side, aio::Socket(fds[0]), protocol,
                                server_side ? server_context : client_context, connected));
  if (scripted) {
    run_script(*loop, peer, fds[1], *connected, data + 1, size - 1);
    // The peer goes away: every connection ends.
    SSL_free(peer);
    ::shutdown(fds[1], SHUT_RDWR);
  }
  loop->run_until_complete(aio::wait_for(task, 10));
  // A transport whose reading the script paused never sees the peer go (as in asyncio): the
  // application ends it, as a real one would on its own timeout.
  if (connected && connected->transport && !protocol->lost) connected->transport->abort();
  if (connected) connected->transport = nullptr;
  // A connection that was made ends with the peer's EOF; wait for its connection_lost.
  for (int i = 0; i < 1000 && protocol.use_count() > 1 && !protocol->lost; ++i) {
    loop->run_until_complete(aio::sleep(0));
  }
  char drain[4096];
  while (::recv(fds[1], drain, sizeof drain, MSG_DONTWAIT) > 0) {
  }
  ::close(fds[1]);
  // Every input gives back every descriptor (fds[0] belongs to aio's transport, which must have
  // closed it): a leak is a finding.
  for (int i = 0; i < 100 && open_fds() != baseline; ++i) {
    loop->run_until_complete(aio::sleep(0.001));
  }
  if (open_fds() != baseline) {
    std::fprintf(stderr, "fd leak: %d open, %d before\n", open_fds(), baseline);
    std::abort();
  }
  return 0;
}
