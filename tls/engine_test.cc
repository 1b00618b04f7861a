// The engine alone: two engines wired back to back in memory, no sockets, no loop.
#include "tls/engine.h"

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "loop/errors.h"
#include "tls/context.h"
#include "tls/errors.h"
#include "tls/test_pki.h"

namespace aio::tls {
namespace {

using testing::pki;

std::span<const std::byte> bytes(const std::string& text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

// One end: its engine, what it has to send to the other end, what it received, its events.
struct End {
  std::unique_ptr<Engine> engine;
  std::string outbox;
  std::string received;
  int handshakes = 0;
  bool close_notify = false;
  bool shutdown_done = false;

  void feed(const std::string& ciphertext) {
    Engine::Events events = engine->feed_ssldata(bytes(ciphertext), outbox, received);
    handshakes += events.handshake_done;
    close_notify |= events.close_notify;
    shutdown_done |= events.shutdown_done;
  }
};

// Moves ciphertext both ways until neither end has anything to send.
void pump(End& a, End& b) {
  for (int round = 0; round < 1000 && (!a.outbox.empty() || !b.outbox.empty()); ++round) {
    std::string to_b = std::move(a.outbox);
    a.outbox.clear();
    if (!to_b.empty()) b.feed(to_b);
    std::string to_a = std::move(b.outbox);
    b.outbox.clear();
    if (!to_a.empty()) a.feed(to_a);
  }
}

struct Pair {
  std::shared_ptr<SSLContext> server_context = pki().server_context();
  std::shared_ptr<SSLContext> client_context = pki().client_context();
  End client, server;

  Pair() {
    client.engine =
        std::make_unique<Engine>(client_context->new_ssl(false, "localhost"), "localhost");
    server.engine = std::make_unique<Engine>(server_context->new_ssl(true, ""), "");
  }
  void handshake() {
    client.engine->do_handshake(client.outbox);
    server.engine->do_handshake(server.outbox);
    pump(client, server);
  }
  void send(End& from, End& to, const std::string& text) {
    EXPECT_EQ(from.engine->feed_appdata(bytes(text), 0, from.outbox), text.size());
    pump(from, to);
  }
};

TEST(EngineTest, HandshakeCompletesOnceOnEachSide) {
  Pair pair;
  EXPECT_EQ(pair.client.engine->state(), Engine::State::kUnwrapped);
  pair.client.engine->do_handshake(pair.client.outbox);
  EXPECT_EQ(pair.client.engine->state(), Engine::State::kDoHandshake);
  EXPECT_FALSE(pair.client.outbox.empty());  // the ClientHello
  EXPECT_TRUE(pair.client.engine->need_ssldata());
  pair.server.engine->do_handshake(pair.server.outbox);
  EXPECT_TRUE(pair.server.outbox.empty());  // a server waits for the ClientHello
  pump(pair.client, pair.server);
  EXPECT_EQ(pair.client.handshakes, 1);
  EXPECT_EQ(pair.server.handshakes, 1);
  EXPECT_EQ(pair.client.engine->state(), Engine::State::kWrapped);
  EXPECT_EQ(pair.server.engine->state(), Engine::State::kWrapped);
  EXPECT_STREQ(SSL_get_version(pair.client.engine->ssl().get()), "TLSv1.3");
  EXPECT_THROW(pair.client.engine->do_handshake(pair.client.outbox), RuntimeError);
}

TEST(EngineTest, DataBothWaysIntact) {
  Pair pair;
  pair.handshake();
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  pair.send(pair.client, pair.server, big);
  EXPECT_EQ(pair.server.received.size(), big.size());
  EXPECT_TRUE(pair.server.received == big);
  pair.send(pair.server, pair.client, "pong");
  EXPECT_EQ(pair.client.received, "pong");
  // An empty write and an offset at the end write nothing.
  std::string out;
  EXPECT_EQ(pair.client.engine->feed_appdata(bytes("abc"), 3, out), 3u);
  EXPECT_TRUE(out.empty());
}

TEST(EngineTest, WriteDuringHandshakeIsAShortWriteThenGoesThrough) {
  Pair pair;
  pair.client.engine->do_handshake(pair.client.outbox);
  std::string out;
  EXPECT_EQ(pair.client.engine->feed_appdata(bytes("early"), 0, out), 0u);
  EXPECT_TRUE(pair.client.engine->need_ssldata());
  pair.client.outbox += out;
  pair.server.engine->do_handshake(pair.server.outbox);
  pump(pair.client, pair.server);
  pair.send(pair.client, pair.server, "early");
  EXPECT_EQ(pair.server.received, "early");
}

TEST(EngineTest, CloseNotifyBothWays) {
  Pair pair;
  pair.handshake();
  Engine::Events events = pair.client.engine->shutdown(pair.client.outbox);
  EXPECT_FALSE(events.shutdown_done);  // the server's close_notify is still to come
  EXPECT_EQ(pair.client.engine->state(), Engine::State::kShutdown);
  EXPECT_THROW(pair.client.engine->shutdown(pair.client.outbox), RuntimeError);
  std::string to_server = std::move(pair.client.outbox);
  pair.client.outbox.clear();
  pair.server.feed(to_server);
  EXPECT_TRUE(pair.server.close_notify);  // Python's b'' chunk
  EXPECT_TRUE(pair.server.received.empty());
  // The server answers with its own close_notify, completing at once (it had the client's).
  events = pair.server.engine->shutdown(pair.server.outbox);
  EXPECT_TRUE(events.shutdown_done);
  EXPECT_EQ(pair.server.engine->state(), Engine::State::kUnwrapped);
  pump(pair.client, pair.server);
  EXPECT_TRUE(pair.client.shutdown_done);
  EXPECT_EQ(pair.client.engine->state(), Engine::State::kUnwrapped);
  // Unwrapped again: bytes pass through as plaintext both ways (STARTTLS in reverse).
  std::string out, app;
  pair.client.engine->feed_ssldata(bytes("plain"), out, app);
  EXPECT_EQ(app, "plain");
  EXPECT_EQ(pair.client.engine->feed_appdata(bytes("clear"), 0, out), 5u);
  EXPECT_EQ(out, "clear");
  EXPECT_THROW(pair.client.engine->shutdown(out), RuntimeError);
}

// Many records, one split across two feeds (the wire keeps the partial record) and the
// close_notify behind them: every byte once, and the close_notify.
TEST(EngineTest, ManyRecordsAndCloseNotifyInOneFeed) {
  Pair pair;
  pair.handshake();
  std::string text(300000, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 13 + i / 977);
  EXPECT_EQ(pair.client.engine->feed_appdata(bytes(text), 0, pair.client.outbox), text.size());
  pair.client.engine->shutdown(pair.client.outbox);
  std::string wire = std::move(pair.client.outbox);
  pair.client.outbox.clear();
  constexpr std::size_t kRecord = 16 * 1024;
  ASSERT_GT(wire.size(), 10 * kRecord);
  // An odd split: the first feed ends inside a record, the second holds the rest.
  pair.server.feed(wire.substr(0, 3 * kRecord + 7));
  EXPECT_FALSE(pair.server.close_notify);
  EXPECT_LT(pair.server.received.size(), 3 * kRecord + 7);
  pair.server.feed(wire.substr(3 * kRecord + 7));
  EXPECT_TRUE(pair.server.close_notify);
  EXPECT_EQ(pair.server.received.size(), text.size());
  EXPECT_TRUE(pair.server.received == text);
}

// The network may cut records anywhere: fed one byte at a time, the handshake still completes
// once on each side and the data arrives whole (the wire keeps every partial record).
TEST(EngineTest, OneByteAtATimeBothWays) {
  Pair pair;
  auto trickle = [](End& from, End& to) {
    std::string wire = std::move(from.outbox);
    from.outbox.clear();
    for (char byte : wire) to.feed(std::string(1, byte));
  };
  pair.client.engine->do_handshake(pair.client.outbox);
  pair.server.engine->do_handshake(pair.server.outbox);
  for (int round = 0; round < 20 && (!pair.client.outbox.empty() || !pair.server.outbox.empty());
       ++round) {
    trickle(pair.client, pair.server);
    trickle(pair.server, pair.client);
  }
  EXPECT_EQ(pair.client.handshakes, 1);
  EXPECT_EQ(pair.server.handshakes, 1);
  std::string text(40000, 'x');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(pair.client.engine->feed_appdata(bytes(text), 0, pair.client.outbox), text.size());
  trickle(pair.client, pair.server);
  EXPECT_TRUE(pair.server.received == text);
}

// The SSL object is shared with the application (ssl_object): it, and the BIO under it, stay
// usable after the engine is gone.
TEST(EngineTest, SslObjectOutlivesTheEngine) {
  std::shared_ptr<ssl_st> ssl;
  {
    Pair pair;
    pair.handshake();
    pair.send(pair.client, pair.server, "hello");
    ssl = pair.server.engine->ssl();
  }
  EXPECT_STREQ(SSL_get_version(ssl.get()), "TLSv1.3");
  EXPECT_EQ(SSL_pending(ssl.get()), 0);
  ssl.reset();  // frees the BIO and what it holds (asan checks)
}

TEST(EngineTest, DataSentBeforeTheShutdownIsReadAndLaterDataDiscarded) {
  Pair pair;
  pair.handshake();
  pair.send(pair.server, pair.client, "");
  std::string out;
  pair.server.engine->feed_appdata(bytes("last words"), 0, pair.server.outbox);
  pair.client.engine->shutdown(pair.client.outbox);
  // The server's data crosses the client's close_notify: the client discards it (it closed).
  pump(pair.client, pair.server);
  EXPECT_TRUE(pair.server.close_notify);
  EXPECT_TRUE(pair.client.received.empty());
}

TEST(EngineTest, WriteAfterOwnShutdownIsAShortWrite) {
  Pair pair;
  pair.handshake();
  pair.client.engine->shutdown(pair.client.outbox);
  std::string out;
  EXPECT_EQ(pair.client.engine->feed_appdata(bytes("late"), 0, out), 0u);
  EXPECT_TRUE(pair.client.engine->need_ssldata());
  EXPECT_TRUE(out.empty());
}

TEST(EngineTest, TruncationIsAnEofError) {
  Pair pair;
  pair.handshake();
  std::string out;
  try {
    pair.client.engine->feed_eof(out);
    FAIL() << "no error";
  } catch (const SSLEOFError& error) {
    EXPECT_STREQ(error.what(), "EOF occurred in violation of protocol");
    EXPECT_EQ(error.err(), 8);  // SSL_ERROR_EOF
  }
}

TEST(EngineTest, EofAfterCloseNotifyIsClean) {
  Pair pair;
  pair.handshake();
  pair.client.engine->shutdown(pair.client.outbox);
  std::string to_server = std::move(pair.client.outbox);
  pair.server.feed(to_server);
  ASSERT_TRUE(pair.server.close_notify);
  std::string out;
  EXPECT_NO_THROW(pair.server.engine->feed_eof(out));
}

TEST(EngineTest, PlainHttpIsRecognised) {
  Pair pair;
  pair.server.engine->do_handshake(pair.server.outbox);
  std::string out, app;
  try {
    pair.server.engine->feed_ssldata(bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), out, app);
    FAIL() << "no error";
  } catch (const SSLError& error) {
    EXPECT_EQ(error.reason(), "HTTP_REQUEST");
    EXPECT_STREQ(error.what(), "[SSL: HTTP_REQUEST] http request");
  }
}

TEST(EngineTest, GarbageFailsTheHandshakeWithAnSslError) {
  Pair pair;
  pair.server.engine->do_handshake(pair.server.outbox);
  std::string out, app;
  try {
    pair.server.engine->feed_ssldata(bytes(std::string("\x01\x02\x03\x04\x05garbage", 12)), out,
                                     app);
    FAIL() << "no error";
  } catch (const SSLError& error) {
    EXPECT_EQ(error.library(), "SSL");
    EXPECT_EQ(error.reason(), "WRONG_VERSION_NUMBER");
    EXPECT_STREQ(error.what(), "[SSL: WRONG_VERSION_NUMBER] wrong version number");
    EXPECT_TRUE(holds<OSError>(std::make_exception_ptr(error)));
  }
}

TEST(EngineTest, CorruptedRecordIsAnSslErrorAndAnAlertForThePeer) {
  Pair pair;
  pair.handshake();
  std::string record;
  ASSERT_EQ(pair.client.engine->feed_appdata(bytes("secret"), 0, record), 6u);
  record[record.size() - 3] ^= 0x55;  // flip bits in the tag
  std::string out, app;
  try {
    pair.server.engine->feed_ssldata(bytes(record), out, app);
    FAIL() << "no error";
  } catch (const SSLError& error) {
    EXPECT_EQ(error.reason(), "BAD_DECRYPT");
  }
  EXPECT_TRUE(app.empty());
  EXPECT_FALSE(out.empty());  // bad_record_mac alert
  std::string client_app, client_out;
  EXPECT_THROW(pair.client.engine->feed_ssldata(bytes(out), client_out, client_app), SSLError);
}

TEST(EngineTest, UntrustedCertificateIsAVerificationError) {
  auto server_context = SSLContext::create(PROTOCOL_TLS_SERVER);
  server_context->load_cert_chain(pki().rogue_cert, pki().rogue_key);
  Pair pair;
  pair.server.engine = std::make_unique<Engine>(server_context->new_ssl(true, ""), "");
  pair.client.engine->do_handshake(pair.client.outbox);
  pair.server.engine->do_handshake(pair.server.outbox);
  try {
    pump(pair.client, pair.server);
    FAIL() << "no error";
  } catch (const SSLCertVerificationError& error) {
    EXPECT_EQ(error.verify_code(), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    EXPECT_EQ(error.verify_message(), "unable to get local issuer certificate");
    EXPECT_STREQ(error.what(),
                 "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get "
                 "local issuer certificate");
  }
}

TEST(EngineTest, HostnameMismatchIsAVerificationError) {
  Pair pair;
  pair.client.engine =
      std::make_unique<Engine>(pair.client_context->new_ssl(false, "example.org"), "example.org");
  pair.client.engine->do_handshake(pair.client.outbox);
  pair.server.engine->do_handshake(pair.server.outbox);
  try {
    pump(pair.client, pair.server);
    FAIL() << "no error";
  } catch (const SSLCertVerificationError& error) {
    EXPECT_EQ(error.verify_code(), X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_STREQ(error.what(),
                 "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
                 "certificate is not valid for 'example.org'.");
  }
}

TEST(EngineTest, IpAddressIsCheckedAgainstIpSubjectAltNames) {
  for (const char* ip : {"127.0.0.1", "::1"}) {
    Pair pair;
    pair.client.engine = std::make_unique<Engine>(pair.client_context->new_ssl(false, ip), ip);
    pair.handshake();
    EXPECT_EQ(pair.client.handshakes, 1) << ip;
  }
  Pair pair;
  pair.client.engine =
      std::make_unique<Engine>(pair.client_context->new_ssl(false, "127.0.0.2"), "127.0.0.2");
  pair.client.engine->do_handshake(pair.client.outbox);
  pair.server.engine->do_handshake(pair.server.outbox);
  try {
    pump(pair.client, pair.server);
    FAIL() << "no error";
  } catch (const SSLCertVerificationError& error) {
    EXPECT_EQ(error.verify_code(), X509_V_ERR_IP_ADDRESS_MISMATCH);
    EXPECT_STREQ(error.what(),
                 "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address "
                 "mismatch, certificate is not valid for '127.0.0.2'.");
  }
}

TEST(EngineTest, EmptyHostnameChecksTheChainButNoName) {
  auto server_context = SSLContext::create(PROTOCOL_TLS_SERVER);
  server_context->load_cert_chain(pki().wrong_name_cert, pki().wrong_name_key);
  Pair pair;
  pair.server.engine = std::make_unique<Engine>(server_context->new_ssl(true, ""), "");
  pair.client.engine = std::make_unique<Engine>(pair.client_context->new_ssl(false, ""), "");
  pair.handshake();
  EXPECT_EQ(pair.client.handshakes, 1);
  EXPECT_EQ(SSL_get_servername(pair.server.engine->ssl().get(), TLSEXT_NAMETYPE_host_name),
            nullptr);  // no SNI sent
}

TEST(EngineTest, ClientSessionIsResumedOnTheNextConnection) {
  auto server_context = pki().server_context();
  auto client_context = pki().client_context();
  for (int i = 0; i < 2; ++i) {
    Pair pair;
    pair.server_context = server_context;
    pair.client.engine =
        std::make_unique<Engine>(client_context->new_ssl(false, "localhost"), "localhost");
    pair.server.engine = std::make_unique<Engine>(server_context->new_ssl(true, ""), "");
    pair.handshake();
    // TLS 1.3 tickets come after the handshake: let the client read them.
    pair.send(pair.server, pair.client, "x");
    EXPECT_EQ(SSL_session_reused(pair.client.engine->ssl().get()), i == 1) << "connection " << i;
  }
  client_context->set_session_reuse(false);
  Pair pair;
  pair.client.engine =
      std::make_unique<Engine>(client_context->new_ssl(false, "localhost"), "localhost");
  pair.server.engine = std::make_unique<Engine>(server_context->new_ssl(true, ""), "");
  pair.handshake();
  EXPECT_EQ(SSL_session_reused(pair.client.engine->ssl().get()), 0);
}

TEST(EngineTest, MethodsRefuseTheWrongState) {
  Pair pair;
  std::string out;
  EXPECT_THROW(pair.client.engine->shutdown(out), RuntimeError);  // no security layer
  // UNWRAPPED passes data straight through.
  std::string app;
  pair.client.engine->feed_ssldata(bytes("raw"), out, app);
  EXPECT_EQ(app, "raw");
}

}  // namespace
}  // namespace aio::tls
