// TLS connections between aio clients and aio servers over TCP and UNIX sockets: the sslproto
// behaviour (callback order, close_notify, flow control, BufferedProtocol, the failure paths),
// asyncio's argument checks, extra info, mutual TLS, ALPN, session reuse and start_tls.
#include <sys/socket.h>
#include <unistd.h>

#include "tls/tls_test_util.h"

namespace aio::tls {
namespace {

using aio::testing::run_until;
using testing::close_server;
using testing::echo_factory;
using testing::echo_protocols;
using testing::failure_of;
using testing::HandlerCalls;
using testing::pattern;
using testing::pki;
using testing::port_of;
using testing::RecordingFactory;
using testing::RecordingProtocol;

ConnectionOptions tls_to(std::uint16_t port, std::shared_ptr<SSLContext> context,
                         std::string host = "127.0.0.1") {
  ConnectionOptions options;
  options.host = std::move(host);
  options.port = std::to_string(port);
  options.ssl = std::move(context);
  return options;
}

ServerRef tls_server(EventLoop& loop, ProtocolFactory factory,
                     std::shared_ptr<SSLContext> context = pki().server_context(),
                     std::optional<double> timeout = std::nullopt) {
  ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = "0";
  options.ssl = std::move(context);
  options.ssl_handshake_timeout = timeout;
  return loop.run_until_complete(create_server(loop, std::move(factory), std::move(options)));
}

// ConnectionOptions cannot be copied (it may hold a socket): a copy of the other fields.
ConnectionOptions clone(const ConnectionOptions& from) {
  ConnectionOptions to;
  to.host = from.host;
  to.port = from.port;
  to.ssl = from.ssl;
  to.server_hostname = from.server_hostname;
  to.ssl_handshake_timeout = from.ssl_handshake_timeout;
  return to;
}

TEST(SslProtocolTest, EchoOverTcpThenCloseNotify) {
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> server_side = echo_factory();
  ServerRef server = tls_server(loop, server_side.factory());
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(create_connection(
      loop, client_side.factory(), tls_to(port_of(server), pki().client_context())));
  ASSERT_EQ(client_side.made.size(), 1u);
  RecordingProtocol& client = *client_side.made[0];
  EXPECT_EQ(client.trace(), "made");  // connection_made ran before create_connection returned
  EXPECT_EQ(client.transport(), transport.get());
  EXPECT_FALSE(transport->can_write_eof());
  transport->write("hello over TLS");
  ASSERT_TRUE(run_until(loop, [&] { return client.received.size() == 14; }));
  EXPECT_EQ(client.received, "hello over TLS");
  transport->close();
  EXPECT_TRUE(transport->is_closing());
  transport->write("dropped: written after close");
  ASSERT_TRUE(run_until(loop, [&] {
    return client.lost() && !server_side.made.empty() && server_side.made[0]->lost();
  }));
  EXPECT_EQ(client.trace(), "made data lost");
  EXPECT_EQ(client.lost_error, nullptr);
  // The client's close_notify reached the server's protocol as eof_received.
  EXPECT_EQ(server_side.made[0]->trace(), "made data eof lost");
  EXPECT_EQ(server_side.made[0]->received, "hello over TLS");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, EchoOverUnixSockets) {
  testing::TempDir dir;
  std::string path = dir.file("tls.sock");
  EventLoop loop;
  RecordingFactory<> server_side = echo_factory();
  ServerRef server = loop.run_until_complete(create_unix_server(
      loop, server_side.factory(), path, {}, 100, true, {pki().server_context(), {}, {}}));
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(create_unix_connection(
      loop, client_side.factory(), path, {}, {pki().client_context(), "localhost", {}}));
  std::string data = pattern(300000, 1);
  transport->write(data);
  RecordingProtocol& client = *client_side.made[0];
  ASSERT_TRUE(run_until(loop, [&] { return client.received.size() >= data.size(); }));
  EXPECT_TRUE(client.received == data);
  auto object = std::any_cast<std::shared_ptr<SSLObject>>(transport->get_extra_info("ssl_object"));
  EXPECT_EQ(object->server_hostname(), "localhost");
  transport->close();
  ASSERT_TRUE(run_until(loop, [&] { return client.lost(); }));
  close_server(loop, server);
}

TEST(SslProtocolTest, ServerClosesFirstAndTheClientHearsEof) {
  EventLoop loop;
  RecordingFactory<> server_side;
  server_side.setup = [](RecordingProtocol& protocol) {
    protocol.on_made = [](Transport& transport) {
      transport.write("greeting then goodbye");
      transport.close();
    };
  };
  ServerRef server = tls_server(loop, server_side.factory());
  RecordingFactory<> client_side;
  auto connection = loop.run_until_complete(create_connection(
      loop, client_side.factory(), tls_to(port_of(server), pki().client_context())));
  RecordingProtocol& client = *client_side.made[0];
  ASSERT_TRUE(run_until(loop, [&] { return client.lost(); }));
  EXPECT_EQ(client.received, "greeting then goodbye");
  EXPECT_EQ(client.trace(), "made data eof lost");
  EXPECT_EQ(client.lost_error, nullptr);
  ASSERT_TRUE(run_until(loop, [&] { return server_side.made[0]->lost(); }));
  EXPECT_EQ(server_side.made[0]->lost_error, nullptr);
  close_server(loop, server);
}

TEST(SslProtocolTest, AsyncioArgumentChecks) {
  EventLoop loop;
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = "1";
  options.server_hostname = "localhost";
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), clone(options))),
            "aio::ValueError: server_hostname is only meaningful with ssl");
  options.server_hostname.reset();
  options.ssl_handshake_timeout = 1;
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), clone(options))),
            "aio::ValueError: ssl_handshake_timeout is only meaningful with ssl");
  ConnectionOptions by_sock;
  by_sock.ssl = pki().client_context();
  by_sock.sock = Socket::create(AF_INET, SOCK_STREAM);
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), std::move(by_sock))),
            "aio::ValueError: You must set server_hostname when using ssl without a host");
  EXPECT_EQ(failure_of(loop, create_unix_connection(loop, echo_protocols(), "/nonexistent", {},
                                                    {pki().client_context(), {}, {}})),
            "aio::ValueError: you have to pass server_hostname when using ssl");
  EXPECT_EQ(failure_of(loop, create_unix_connection(loop, echo_protocols(), "/nonexistent", {},
                                                    {nullptr, "localhost", {}})),
            "aio::ValueError: server_hostname is only meaningful with ssl");
  EXPECT_EQ(failure_of(loop, create_unix_connection(loop, echo_protocols(), "/nonexistent", {},
                                                    {nullptr, {}, 5.0})),
            "aio::ValueError: ssl_handshake_timeout is only meaningful with ssl");
  ServerOptions server_options;
  server_options.hosts = {"127.0.0.1"};
  server_options.ssl_handshake_timeout = 3;
  EXPECT_EQ(failure_of(loop, create_server(loop, echo_protocols(), std::move(server_options))),
            "aio::ValueError: ssl_handshake_timeout is only meaningful with ssl");
  EXPECT_EQ(failure_of(loop, create_unix_server(loop, echo_protocols(), "/nonexistent", {}, 100,
                                                true, {nullptr, {}, 3.0})),
            "aio::ValueError: ssl_handshake_timeout is only meaningful with ssl");
  EXPECT_EQ(failure_of(loop, connect_accepted_socket(loop, echo_protocols(),
                                                     Socket::create(AF_INET, SOCK_STREAM),
                                                     {nullptr, {}, 3.0})),
            "aio::ValueError: ssl_handshake_timeout is only meaningful with ssl");
  ServerOptions negative_server;
  negative_server.hosts = {"127.0.0.1"};
  negative_server.ssl = pki().server_context();
  negative_server.ssl_handshake_timeout = -2.5;
  EXPECT_EQ(failure_of(loop, create_server(loop, echo_protocols(), std::move(negative_server))),
            "aio::ValueError: ssl_handshake_timeout should be a positive number, got -2.5");
  // A timeout that is not positive, after the connection is made (asyncio's SSLProtocol).
  RecordingFactory<> server_side = echo_factory();
  ServerRef server = tls_server(loop, server_side.factory());
  ConnectionOptions negative = tls_to(port_of(server), pki().client_context());
  negative.ssl_handshake_timeout = -1;
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), clone(negative))),
            "aio::ValueError: ssl_handshake_timeout should be a positive number, got -1.0");
  negative.ssl_handshake_timeout = 0;
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), clone(negative))),
            "aio::ValueError: ssl_handshake_timeout should be a positive number, got 0.0");
  // A context for the other side.
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(),
                                               tls_to(port_of(server), pki().server_context()))),
            "aio::ValueError: Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
  close_server(loop, server);
}

TEST(SslProtocolTest, UntrustedServerFailsTheClientAndTheServerProtocolNeverConnects) {
  EventLoop loop;
  HandlerCalls handler(loop);
  auto rogue = SSLContext::create(PROTOCOL_TLS_SERVER);
  rogue->load_cert_chain(pki().rogue_cert, pki().rogue_key);
  RecordingFactory<> server_side = echo_factory();
  ServerRef server = tls_server(loop, server_side.factory(), rogue);
  RecordingFactory<> client_side;
  try {
    loop.run_until_complete(create_connection(loop, client_side.factory(),
                                              tls_to(port_of(server), pki().client_context())));
    FAIL() << "connected";
  } catch (const SSLCertVerificationError& error) {
    EXPECT_EQ(error.verify_message(), "unable to get local issuer certificate");
    EXPECT_STREQ(error.what(),
                 "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get "
                 "local issuer certificate");
  }
  ASSERT_EQ(client_side.made.size(), 1u);
  EXPECT_EQ(client_side.made[0]->trace(), "");  // neither callback
  ASSERT_TRUE(run_until(loop, [&] { return server->active_connections() == 0; }));
  ASSERT_EQ(server_side.made.size(), 1u);
  EXPECT_EQ(server_side.made[0]->trace(), "");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, HostnameAndIpChecks) {
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> server_side = echo_factory();
  ServerRef server = tls_server(loop, server_side.factory());
  ConnectionOptions options = tls_to(port_of(server), pki().client_context());
  options.server_hostname = "example.org";
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), clone(options))),
            "aio::tls::SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
            "verify failed: Hostname mismatch, certificate is not valid for 'example.org'.");
  options.server_hostname = "127.0.0.2";
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), clone(options))),
            "aio::tls::SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
            "verify failed: IP address mismatch, certificate is not valid for '127.0.0.2'.");
  // The host is the default server_hostname: 127.0.0.1 is in the certificate.
  options.server_hostname.reset();
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), clone(options))),
            "<no exception>");
  // "" checks no name (and sends no SNI), but still the chain.
  auto wrong_name = SSLContext::create(PROTOCOL_TLS_SERVER);
  wrong_name->load_cert_chain(pki().wrong_name_cert, pki().wrong_name_key);
  ServerRef other = tls_server(loop, echo_protocols(), wrong_name);
  ConnectionOptions unnamed = tls_to(port_of(other), pki().client_context());
  EXPECT_NE(failure_of(loop, create_connection(loop, echo_protocols(), clone(unnamed))),
            "<no exception>");
  unnamed.server_hostname = "";
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(), clone(unnamed))),
            "<no exception>");
  // An expired certificate.
  auto expired = SSLContext::create(PROTOCOL_TLS_SERVER);
  expired->load_cert_chain(pki().expired_cert, pki().expired_key);
  ServerRef old = tls_server(loop, echo_protocols(), expired);
  EXPECT_EQ(failure_of(loop, create_connection(loop, echo_protocols(),
                                               tls_to(port_of(old), pki().client_context()))),
            "aio::tls::SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
            "verify failed: certificate has expired");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, old);
  close_server(loop, other);
  close_server(loop, server);
}

// A plain TCP server whose connections do `what` on connection_made.
ServerRef plain_server(EventLoop& loop, RecordingFactory<>& factory) {
  return loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
}

TEST(SslProtocolTest, PeerClosingDuringTheHandshakeIsConnectionReset) {
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> closer;
  closer.setup = [](RecordingProtocol& protocol) {
    protocol.on_made = [](Transport& transport) { transport.close(); };
  };
  ServerRef server = plain_server(loop, closer);
  RecordingFactory<> client_side;
  EXPECT_EQ(failure_of(loop, create_connection(loop, client_side.factory(),
                                               tls_to(port_of(server), pki().client_context()))),
            "aio::ConnectionResetError");
  EXPECT_EQ(client_side.made.at(0)->trace(), "");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, HandshakeTimeoutWithASilentServer) {
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> silent;
  ServerRef server = plain_server(loop, silent);
  ConnectionOptions options = tls_to(port_of(server), pki().client_context());
  options.ssl_handshake_timeout = 0.25;
  RecordingFactory<> client_side;
  double start = loop.time();
  EXPECT_EQ(failure_of(loop, create_connection(loop, client_side.factory(), clone(options))),
            "aio::ConnectionAbortedError: SSL handshake is taking longer than 0.25 seconds: "
            "aborting the connection");
  EXPECT_GE(loop.time() - start, 0.2);
  EXPECT_EQ(client_side.made.at(0)->trace(), "");
  // The server saw the ClientHello, then the connection closing.
  ASSERT_TRUE(run_until(loop, [&] { return silent.made.at(0)->lost(); }));
  EXPECT_EQ(silent.made[0]->trace(), "made data eof lost");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, HandshakeTimeoutWithASilentClientClosesTheServerSide) {
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> server_side = echo_factory();
  ServerRef server = tls_server(loop, server_side.factory(), pki().server_context(), 0.2);
  RecordingFactory<> silent;
  auto [transport, protocol] = loop.run_until_complete(
      create_connection(loop, silent.factory(), "127.0.0.1", port_of(server)));
  ASSERT_TRUE(run_until(loop, [&] { return silent.made[0]->lost(); }));
  EXPECT_EQ(silent.made[0]->trace(), "made eof lost");
  EXPECT_EQ(server_side.made.at(0)->trace(), "");
  EXPECT_EQ(server->active_connections(), 0u);
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, DefaultHandshakeTimeoutIsSixtySeconds) {
  EXPECT_EQ(kDefaultHandshakeTimeout, 60.0);
}

// The default itself, end to end: on a virtual clock the silent server's minute passes at once.
// (Loopback I/O within one loop is ready by the next poll, so only the handshake timer is left
// when the loop goes idle.)
TEST(SslProtocolTest, TheDefaultTimeoutAbortsASilentServerAfterAMinuteOfVirtualTime) {
  EventLoop loop(aio::testing::virtual_time());
  HandlerCalls handler(loop);
  RecordingFactory<> silent;
  ServerRef server = plain_server(loop, silent);
  ConnectionOptions options = tls_to(port_of(server), pki().client_context());
  RecordingFactory<> client_side;
  double start = loop.time();
  EXPECT_EQ(failure_of(loop, create_connection(loop, client_side.factory(), clone(options)), 3600),
            "aio::ConnectionAbortedError: SSL handshake is taking longer than 60.0 seconds: "
            "aborting the connection");
  EXPECT_DOUBLE_EQ(loop.time() - start, 60.0);
  EXPECT_EQ(client_side.made.at(0)->trace(), "");
  ASSERT_TRUE(run_until(loop, [&] { return silent.made.at(0)->lost(); }, 3600));
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, CancellingTheHandshakeKeepsNoReference) {
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> silent;
  ServerRef server = plain_server(loop, silent);
  std::shared_ptr<SSLContext> context = pki().client_context();
  std::weak_ptr<BaseProtocol> app;
  {
    RecordingFactory<> client_side;
    EXPECT_EQ(failure_of(loop, aio::wait_for(create_connection(loop, client_side.factory(),
                                                               tls_to(port_of(server), context)),
                                             0.2)),
              "aio::TimeoutError");
    app = client_side.made.at(0);
    EXPECT_EQ(client_side.made[0]->trace(), "");
  }
  ASSERT_TRUE(run_until(loop, [&] { return silent.made.at(0)->lost(); }));
  loop.run_until_complete(aio::sleep(0.05));
  EXPECT_TRUE(app.expired());
  EXPECT_EQ(context.use_count(), 1);  // no connection holds it any more
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, LoopClosingUnderAnOpenConnectionFreesEverything) {
  std::shared_ptr<SSLContext> client_context = pki().client_context();
  std::weak_ptr<BaseProtocol> app;
  TransportRef kept;
  {
    EventLoop loop;
    ServerRef server = tls_server(loop, echo_protocols());
    RecordingFactory<> client_side;
    auto [transport, protocol] = loop.run_until_complete(
        create_connection(loop, client_side.factory(), tls_to(port_of(server), client_context)));
    app = protocol;
    kept = transport;
    transport->close();  // close_notify sent, the answer never read: the loop closes first
    server->close();
  }
  EXPECT_TRUE(app.expired());
  EXPECT_EQ(client_context.use_count(), 1);
  EXPECT_TRUE(kept->is_closing());  // a dead transport, still safe to use
  kept->write("nothing happens");
  EXPECT_FALSE(kept->get_extra_info("cipher").has_value());
}

TEST(SslProtocolTest, CorruptedRecordReachesConnectionLostAsAnSslError) {
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> server_side;
  ServerRef server = tls_server(loop, server_side.factory());
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(create_connection(
      loop, client_side.factory(), tls_to(port_of(server), pki().client_context())));
  ASSERT_TRUE(run_until(loop, [&] { return server_side.made.size() == 1; }));
  ASSERT_TRUE(run_until(
      loop, [&] { return server_side.made[0]->state() == RecordingProtocol::State::kConnected; }));
  // Bytes that are not a TLS record, straight onto the server's socket.
  auto socket = std::any_cast<std::shared_ptr<Socket>>(
      server_side.made[0]->transport()->get_extra_info("socket"));
  const char junk[] = "\x17\x03\x03\x00\x10garbage-garbage!";
  ASSERT_EQ(::send(socket->fileno(), junk, sizeof junk - 1, 0),
            static_cast<ssize_t>(sizeof junk - 1));
  RecordingProtocol& client = *client_side.made[0];
  ASSERT_TRUE(run_until(loop, [&] { return client.lost(); }));
  EXPECT_TRUE(holds<SSLError>(client.lost_error));
  EXPECT_EQ(client.trace(), "made lost:aio::tls::SSLError: [CIPHER: BAD_DECRYPT] bad decrypt");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, ExtraInfoRows) {
  EventLoop loop;
  RecordingFactory<> server_side;
  std::shared_ptr<SSLContext> server_context = pki().server_context();
  ServerRef server = tls_server(loop, server_side.factory(), server_context);
  std::shared_ptr<SSLContext> context = pki().client_context();
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(
      create_connection(loop, client_side.factory(), tls_to(port_of(server), context)));
  auto peercert = std::any_cast<PeerCertificate>(transport->get_extra_info("peercert"));
  EXPECT_EQ(peercert.subject_field("commonName"), "localhost");
  EXPECT_EQ(peercert.subject_field("organizationName"), "aio tests");
  EXPECT_EQ(peercert.version, 3);
  using Names = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(peercert.subjectAltName, (Names{{"DNS", "localhost"},
                                            {"IP Address", "127.0.0.1"},
                                            {"IP Address", "0:0:0:0:0:0:0:1"}}));
  ASSERT_EQ(peercert.issuer.size(), 2u);
  EXPECT_EQ(peercert.issuer[1], (RDN{{"commonName", "aio test CA"}}));
  EXPECT_EQ(peercert.notAfter.size(), 24u);  // "Jan  1 12:00:00 2027 GMT"
  auto cipher = std::any_cast<Cipher>(transport->get_extra_info("cipher"));
  EXPECT_EQ(cipher.protocol, "TLSv1.3");
  EXPECT_EQ(cipher.name.rfind("TLS_", 0), 0u) << cipher.name;
  EXPECT_GE(cipher.secret_bits, 128);
  EXPECT_FALSE(std::any_cast<std::optional<std::string>>(transport->get_extra_info("compression")));
  auto object = std::any_cast<std::shared_ptr<SSLObject>>(transport->get_extra_info("ssl_object"));
  EXPECT_EQ(object->version(), "TLSv1.3");
  EXPECT_EQ(object->cipher(), cipher);
  EXPECT_FALSE(object->server_side());
  EXPECT_EQ(object->server_hostname(), "127.0.0.1");
  EXPECT_FALSE(object->getpeercert_der().empty());
  EXPECT_EQ(object->getpeercert(), peercert);
  EXPECT_EQ(std::any_cast<std::shared_ptr<SSLContext>>(transport->get_extra_info("sslcontext")),
            context);
  EXPECT_EQ(std::any_cast<SocketAddress>(transport->get_extra_info("peername")).port(),
            port_of(server));
  EXPECT_FALSE(transport->get_extra_info("nonsense").has_value());
  // The server did not ask for a client certificate: no peercert there.
  ASSERT_TRUE(run_until(loop, [&] {
    return !server_side.made.empty() && server_side.made[0]->transport() != nullptr;
  }));
  Transport& accepted = *server_side.made[0]->transport();
  EXPECT_TRUE(std::any_cast<PeerCertificate>(accepted.get_extra_info("peercert")).empty());
  auto server_object =
      std::any_cast<std::shared_ptr<SSLObject>>(accepted.get_extra_info("ssl_object"));
  EXPECT_TRUE(server_object->server_side());
  EXPECT_EQ(server_object->server_hostname(), std::nullopt);
  EXPECT_EQ(std::any_cast<std::shared_ptr<SSLContext>>(accepted.get_extra_info("sslcontext")),
            server_context);
  transport->close();
  ASSERT_TRUE(run_until(loop, [&] { return client_side.made[0]->lost(); }));
  // The ssl_object stays valid after the connection is gone.
  EXPECT_EQ(object->version(), "TLSv1.3");
  close_server(loop, server);
}

TEST(SslProtocolTest, MutualTls) {
  EventLoop loop;
  HandlerCalls handler(loop);
  auto server_context = pki().server_context();
  server_context->set_verify_mode(VerifyMode::CERT_REQUIRED);
  server_context->load_verify_locations(pki().ca_cert);
  RecordingFactory<> server_side = echo_factory();
  ServerRef server = tls_server(loop, server_side.factory(), server_context);
  auto with_cert = pki().client_context();
  with_cert->load_cert_chain(pki().client_cert, pki().client_key);
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(
      create_connection(loop, client_side.factory(), tls_to(port_of(server), with_cert)));
  transport->write("with a certificate");
  ASSERT_TRUE(run_until(loop, [&] { return client_side.made[0]->received.size() == 18; }));
  Transport& accepted = *server_side.made.at(0)->transport();
  EXPECT_EQ(std::any_cast<PeerCertificate>(accepted.get_extra_info("peercert"))
                .subject_field("commonName"),
            "aio-client");
  transport->close();
  // Without one: the TLS 1.3 client finishes first, then gets the server's alert.
  RecordingFactory<> anonymous;
  auto second = loop.run_until_complete(create_connection(
      loop, anonymous.factory(), tls_to(port_of(server), pki().client_context())));
  ASSERT_TRUE(run_until(loop, [&] { return anonymous.made[0]->lost(); }));
  EXPECT_TRUE(holds<SSLError>(anonymous.made[0]->lost_error));
  EXPECT_EQ(anonymous.made[0]->trace(),
            "made lost:aio::tls::SSLError: [SSL: TLSV1_ALERT_CERTIFICATE_REQUIRED] tlsv1 alert "
            "certificate required");
  EXPECT_EQ(server_side.made.at(1)->trace(), "");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, Alpn) {
  EventLoop loop;
  auto server_context = pki().server_context();
  server_context->set_alpn_protocols({"http/1.1", "h2"});
  ServerRef server = tls_server(loop, echo_protocols(), server_context);
  auto selected = [&](std::vector<std::string> offered) {
    auto context = pki().client_context();
    if (!offered.empty()) context->set_alpn_protocols(offered);
    RecordingFactory<> client_side;
    auto [transport, protocol] = loop.run_until_complete(
        create_connection(loop, client_side.factory(), tls_to(port_of(server), context)));
    auto object =
        std::any_cast<std::shared_ptr<SSLObject>>(transport->get_extra_info("ssl_object"));
    transport->close();
    run_until(loop, [&] { return client_side.made[0]->lost(); });
    return object->selected_alpn_protocol().value_or("<none>");
  };
  EXPECT_EQ(selected({"h2", "http/1.1"}), "http/1.1");  // the server's preference wins
  EXPECT_EQ(selected({"h2"}), "h2");
  EXPECT_EQ(selected({"spdy/3"}), "<none>");
  EXPECT_EQ(selected({}), "<none>");
  EXPECT_THROW(server_context->set_alpn_protocols({""}), ValueError);
  close_server(loop, server);
}

TEST(SslProtocolTest, ClientSessionReuse) {
  EventLoop loop;
  ServerRef server = tls_server(loop, echo_protocols());
  auto context = pki().client_context();
  std::vector<bool> reused;
  for (int i = 0; i < 3; ++i) {
    RecordingFactory<> client_side;
    auto [transport, protocol] = loop.run_until_complete(
        create_connection(loop, client_side.factory(), tls_to(port_of(server), context)));
    transport->write("x");  // the ticket arrives after the handshake; reading it takes a round
    run_until(loop, [&] { return client_side.made[0]->received == "x"; });
    reused.push_back(
        std::any_cast<std::shared_ptr<SSLObject>>(transport->get_extra_info("ssl_object"))
            ->session_reused());
    transport->close();
    run_until(loop, [&] { return client_side.made[0]->lost(); });
  }
  EXPECT_EQ(reused, (std::vector<bool>{false, true, true}));
  close_server(loop, server);
}

// A BufferedProtocol lending `capacity`-byte buffers.
class Buffered : public BufferedProtocol {
 public:
  explicit Buffered(std::size_t capacity) : buffer_(capacity) {}
  void connection_made(Transport& transport) override { transport_ = &transport; }
  std::span<std::byte> get_buffer(std::ptrdiff_t sizehint) override {
    ++buffers;
    return {buffer_.data(), buffer_.size()};
  }
  void buffer_updated(std::size_t nbytes) override {
    received.append(reinterpret_cast<const char*>(buffer_.data()), nbytes);
  }
  bool eof_received() override {
    eof = true;
    return false;
  }
  void connection_lost(std::exception_ptr error) override { lost = true; }

  std::string received;
  std::size_t buffers = 0;
  bool eof = false, lost = false;
  Transport* transport_ = nullptr;

 private:
  std::vector<std::byte> buffer_;
};

TEST(SslProtocolTest, BufferedProtocolIncludingAOneByteBuffer) {
  for (std::size_t capacity : {std::size_t{1}, std::size_t{7}, std::size_t{65536}}) {
    EventLoop loop;
    std::string data = pattern(capacity == 1 ? 40000 : 500000, static_cast<unsigned>(capacity));
    RecordingFactory<> server_side;
    server_side.setup = [&](RecordingProtocol& protocol) {
      protocol.on_made = [&](Transport& transport) {
        transport.write(data);
        transport.close();
      };
    };
    ServerRef server = tls_server(loop, server_side.factory());
    auto buffered = std::make_shared<Buffered>(capacity);
    auto connection = loop.run_until_complete(create_connection(
        loop, [&] { return buffered; }, tls_to(port_of(server), pki().client_context())));
    ASSERT_TRUE(run_until(loop, [&] { return buffered->lost; })) << capacity;
    EXPECT_TRUE(buffered->received == data) << capacity;
    EXPECT_TRUE(buffered->eof);
    if (capacity == 1) EXPECT_EQ(buffered->buffers, data.size());
    close_server(loop, server);
  }
}

TEST(SslProtocolTest, FlowControlCountsPlaintextAndCiphertext) {
  EventLoop loop;
  RecordingFactory<> server_side;
  server_side.setup = [](RecordingProtocol& protocol) {
    protocol.on_made = [](Transport& transport) { transport.pause_reading(); };
  };
  ServerRef server = tls_server(loop, server_side.factory());
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(create_connection(
      loop, client_side.factory(), tls_to(port_of(server), pki().client_context())));
  EXPECT_EQ(transport->get_write_buffer_limits(),
            (std::pair<std::size_t, std::size_t>{16384, 65536}));
  transport->set_write_buffer_limits(100000);
  EXPECT_EQ(transport->get_write_buffer_limits(),
            (std::pair<std::size_t, std::size_t>{25000, 100000}));
  RecordingProtocol& client = *client_side.made[0];
  std::string data = pattern(8 << 20, 3);
  std::size_t written = 0;
  // Write until the peer's paused reading backs us up.
  while (written < data.size() && client.events.back() != "pause") {
    transport->write(std::string_view(data).substr(written, 65536));
    written += 65536;
    if (client.events.back() != "pause") loop.run_until_complete(aio::sleep(0.001));
  }
  ASSERT_EQ(client.events.back(), "pause");
  EXPECT_GT(transport->get_write_buffer_size(), 100000u);
  ASSERT_TRUE(run_until(loop, [&] { return server_side.made.size() == 1; }));
  server_side.made[0]->transport()->resume_reading();
  ASSERT_TRUE(run_until(loop, [&] { return client.events.back() == "resume"; }));
  EXPECT_LE(transport->get_write_buffer_size(), 25000u);
  ASSERT_TRUE(run_until(loop, [&] { return server_side.made[0]->received.size() == written; }));
  EXPECT_TRUE(server_side.made[0]->received == data.substr(0, written));
  transport->abort();
  ASSERT_TRUE(run_until(loop, [&] { return client.lost(); }));
  EXPECT_EQ(client.trace(), "made pause resume lost");
  close_server(loop, server);
}

TEST(SslProtocolTest, WriteEofIsNotSupportedAndAbortSkipsCloseNotify) {
  EventLoop loop;
  RecordingFactory<> server_side;
  ServerRef server = tls_server(loop, server_side.factory());
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(create_connection(
      loop, client_side.factory(), tls_to(port_of(server), pki().client_context())));
  EXPECT_THROW(transport->write_eof(), NotImplementedError);
  EXPECT_TRUE(transport->is_reading());
  transport->pause_reading();
  EXPECT_FALSE(transport->is_reading());
  transport->resume_reading();
  transport->abort();
  EXPECT_TRUE(transport->is_closing());
  ASSERT_TRUE(run_until(loop, [&] {
    return client_side.made[0]->lost() && server_side.made.size() == 1 &&
           server_side.made[0]->lost();
  }));
  EXPECT_EQ(client_side.made[0]->trace(), "made lost");
  // No close_notify: the server sees a plain EOF.
  EXPECT_EQ(server_side.made[0]->trace(), "made eof lost");
  close_server(loop, server);
}

TEST(SslProtocolTest, ProtocolSwitching) {
  EventLoop loop;
  ServerRef server = tls_server(loop, echo_protocols());
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(create_connection(
      loop, client_side.factory(), tls_to(port_of(server), pki().client_context())));
  // Switched to, never connected: a plain protocol that only collects.
  struct Collector : Protocol {
    void data_received(std::span<const std::byte> data) override {
      received.append(reinterpret_cast<const char*>(data.data()), data.size());
    }
    std::string received;
  };
  auto second = std::make_shared<Collector>();
  transport->set_protocol(second);
  EXPECT_EQ(transport->get_protocol(), second);
  transport->write("to the second protocol");
  ASSERT_TRUE(run_until(loop, [&] { return second->received.size() == 22; }));
  EXPECT_TRUE(client_side.made[0]->received.empty());
  transport->abort();
  loop.run_until_complete(aio::sleep(0.01));
  close_server(loop, server);
}

// --- start_tls -----------------------------------------------------------------------------------

// The server side's TLS transport once start_tls returned, and the plaintext that reached the
// protocol before that (the peer may write as soon as its own handshake is done).
struct Upgraded {
  std::vector<TransportRef> transports;
  std::string early;
};

// Arguments, not lambda captures: a coroutine outlives the lambda that started it.
Coro<void> upgrade_server_side(EventLoop& loop, TransportRef transport,
                               std::shared_ptr<BaseProtocol> protocol, Upgraded* upgraded) {
  upgraded->transports.push_back(co_await start_tls(loop, std::move(transport), std::move(protocol),
                                                    pki().server_context(), true));
  if (!upgraded->early.empty()) upgraded->transports[0]->write(upgraded->early);
}

TEST(SslProtocolTest, StartTlsOnBothSides) {
  EventLoop loop;
  HandlerCalls handler(loop);
  // The server speaks plain text until "STARTTLS\n", answers "GO\n", then upgrades.
  Upgraded upgraded;
  RecordingFactory<> server_side;
  server_side.setup = [&](RecordingProtocol& protocol) {
    protocol.on_data = [&](Transport& transport, std::span<const std::byte> data) {
      if (protocol.received == "STARTTLS\n") {
        transport.pause_reading();  // the next bytes are the ClientHello, for start_tls
        transport.write("GO\n");
        loop.create_task(upgrade_server_side(loop, TransportRef::share(&transport),
                                             server_side.made.back(), &upgraded));
      } else if (!upgraded.transports.empty()) {
        upgraded.transports[0]->write(data);  // echo over TLS
      } else {
        upgraded.early.append(reinterpret_cast<const char*>(data.data()), data.size());
      }
    };
  };
  ServerRef server = plain_server(loop, server_side);
  RecordingFactory<> client_side;
  auto [plain, protocol] = loop.run_until_complete(
      create_connection(loop, client_side.factory(), "127.0.0.1", port_of(server)));
  RecordingProtocol& client = *client_side.made[0];
  plain->write("STARTTLS\n");
  ASSERT_TRUE(run_until(loop, [&] { return client.received == "GO\n"; }));
  TransportRef secure = loop.run_until_complete(
      start_tls(loop, plain, protocol, pki().client_context(), false, "localhost"));
  EXPECT_NE(secure.get(), plain.get());
  EXPECT_EQ(std::any_cast<Cipher>(secure->get_extra_info("cipher")).protocol, "TLSv1.3");
  secure->write(" and now encrypted");
  ASSERT_TRUE(run_until(loop, [&] { return client.received == "GO\n and now encrypted"; }));
  ASSERT_EQ(upgraded.transports.size(), 1u);
  EXPECT_EQ(std::any_cast<PeerCertificate>(secure->get_extra_info("peercert"))
                .subject_field("commonName"),
            "localhost");
  secure->close();
  ASSERT_TRUE(run_until(loop, [&] { return client.lost() && server_side.made[0]->lost(); }));
  EXPECT_EQ(client.trace(), "made data lost");  // one connection_made in all
  EXPECT_EQ(server_side.made[0]->trace(), "made data eof lost");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, StartTlsTypeErrors) {
  EventLoop loop;
  ServerRef server = tls_server(loop, echo_protocols());
  RecordingFactory<> client_side;
  auto [transport, protocol] = loop.run_until_complete(create_connection(
      loop, client_side.factory(), tls_to(port_of(server), pki().client_context())));
  EXPECT_EQ(failure_of(loop, start_tls(loop, transport, protocol, nullptr)),
            "aio::TypeError: sslcontext is expected to be an instance of ssl.SSLContext, got None");
  std::string message = failure_of(
      loop, start_tls(loop, transport, protocol, pki().client_context(), false, "localhost"));
  EXPECT_EQ(message.rfind("aio::TypeError: transport <SslTransport WRAPPED", 0), 0u) << message;
  EXPECT_NE(message.find("is not supported by start_tls()"), std::string::npos);
  transport->close();
  run_until(loop, [&] { return client_side.made[0]->lost(); });
  RecordingFactory<> plain_side;
  auto [plain, plain_protocol] = loop.run_until_complete(
      create_connection(loop, plain_side.factory(), "127.0.0.1", port_of(server)));
  EXPECT_EQ(failure_of(loop, start_tls(loop, plain, plain_protocol, pki().client_context())),
            "aio::ValueError: check_hostname requires server_hostname");
  plain->close();
  run_until(loop, [&] { return plain_side.made[0]->lost(); });
  close_server(loop, server);
}

TEST(SslProtocolTest, StartTlsHandshakeFailureClosesTheTransport) {
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> server_side;  // plain, never upgrades: answers the ClientHello with text
  server_side.setup = [](RecordingProtocol& protocol) {
    protocol.on_data = [](Transport& transport, std::span<const std::byte>) {
      transport.write("500 what?\r\n");
    };
  };
  ServerRef server = plain_server(loop, server_side);
  RecordingFactory<> client_side;
  auto [plain, protocol] = loop.run_until_complete(
      create_connection(loop, client_side.factory(), "127.0.0.1", port_of(server)));
  EXPECT_EQ(failure_of(
                loop, start_tls(loop, plain, protocol, pki().client_context(), false, "localhost")),
            "aio::tls::SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number");
  EXPECT_TRUE(plain->is_closing());
  ASSERT_TRUE(run_until(loop, [&] { return server_side.made[0]->lost(); }));
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
  close_server(loop, server);
}

TEST(SslProtocolTest, ConnectAcceptedSocketIsTheServerSide) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  RecordingFactory<> server_side = echo_factory();
  RecordingFactory<> client_side;
  Task<Connection<>> accepted = loop.create_task(connect_accepted_socket(
      loop, server_side.factory(), Socket(fds[0]), {pki().server_context(), {}, {}}));
  auto [transport, protocol] = loop.run_until_complete(
      create_unix_connection(loop, client_side.factory(), std::nullopt, Socket(fds[1]),
                             {pki().client_context(), "localhost", {}}));
  auto [server_transport, server_protocol] = loop.run_until_complete(accepted);
  transport->write("accepted elsewhere");
  ASSERT_TRUE(run_until(loop, [&] { return client_side.made[0]->received.size() == 18; }));
  transport->close();
  ASSERT_TRUE(run_until(loop, [&] { return server_side.made[0]->lost(); }));
}

}  // namespace
}  // namespace aio::tls
