// `import aio.tls;` alone is enough to use //tls: a TLS 1.2+ handshake over loopback between a
// server and a client made with create_default_context (the test certificates), an echo
// through the encrypted transport, the session's extra info (peercert, cipher, ssl_object), and
// an untrusted server failing as SSLCertVerificationError. aio.net and aio.loop come re-exported.
#include <any>
#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "gtest/gtest.h"
#include "tls/test_pki_files.h"  // file paths only, no //tls declarations

import aio.tls;

namespace {

using aio::tls::testing::pki_files;

struct Echo : aio::Protocol {
  aio::Transport* transport = nullptr;
  void connection_made(aio::Transport& t) override { transport = &t; }
  void data_received(std::span<const std::byte> data) override { transport->write(data); }
};

struct Client : aio::Protocol {
  std::string received;
  aio::Future<std::string> reply = aio::get_running_loop().create_future<std::string>();
  void data_received(std::span<const std::byte> data) override {
    received.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (received.find('\n') != std::string::npos && !reply.done()) reply.set_result(received);
  }
};

aio::Coro<aio::ServerRef> tls_server(std::string cert, std::string key) {
  std::shared_ptr<aio::tls::SSLContext> context =
      aio::tls::create_default_context(aio::tls::Purpose::CLIENT_AUTH);
  context->load_cert_chain(cert, key);
  aio::ServerOptions listen;
  listen.hosts = {"127.0.0.1"};
  listen.port = "0";
  listen.ssl = context;
  co_return co_await aio::create_server(
      aio::get_running_loop(), [] { return std::make_shared<Echo>(); }, std::move(listen));
}

aio::ConnectionOptions tls_to(const aio::ServerRef& server) {
  aio::ConnectionOptions connect;
  connect.host = "127.0.0.1";  // the certificate names IP:127.0.0.1 too: no DNS needed
  connect.port = std::to_string(server->sockets().front().getsockname().port());
  connect.ssl =
      aio::tls::create_default_context(aio::tls::Purpose::SERVER_AUTH, pki_files().ca_cert);
  return connect;
}

struct Session {
  std::string reply, common_name, version;
  bool has_cipher = false;
};

aio::Coro<Session> handshake_and_echo() {
  aio::ServerRef server = co_await tls_server(pki_files().server_cert, pki_files().server_key);
  auto [transport, client] = co_await aio::create_connection<Client>(
      aio::get_running_loop(), [] { return std::make_shared<Client>(); }, tls_to(server));
  transport->write(std::string_view("over TLS\n"));
  Session session;
  session.reply = co_await aio::wait_for(client->reply, 10);
  auto cert = std::any_cast<aio::tls::PeerCertificate>(transport->get_extra_info("peercert"));
  session.common_name = cert.subject_field("commonName");
  auto object =
      std::any_cast<std::shared_ptr<aio::tls::SSLObject>>(transport->get_extra_info("ssl_object"));
  session.version = object->version().value_or("");
  std::optional<aio::tls::Cipher> cipher = object->cipher();
  session.has_cipher = cipher.has_value() && !cipher->name.empty();
  transport->close();
  server->close();
  co_await server->wait_closed();
  co_return session;
}

TEST(TlsModuleTest, HandshakeOverLoopbackAndEcho) {
  Session session = aio::run(handshake_and_echo());
  EXPECT_EQ(session.reply, "over TLS\n");
  EXPECT_EQ(session.common_name, "localhost");
  EXPECT_TRUE(session.version == "TLSv1.3" || session.version == "TLSv1.2") << session.version;
  EXPECT_TRUE(session.has_cipher);
}

TEST(TlsModuleTest, UntrustedServerIsACertificateVerificationError) {
  std::string message = aio::run([]() -> aio::Coro<std::string> {
    aio::ServerRef server = co_await tls_server(pki_files().rogue_cert, pki_files().rogue_key);
    std::string error;
    try {
      co_await aio::create_connection(
          aio::get_running_loop(), [] { return std::make_shared<Client>(); }, tls_to(server));
    } catch (const aio::tls::SSLCertVerificationError& e) {
      error = e.verify_message();
    }
    server->close();
    co_await server->wait_closed();
    co_return error;
  }());
  EXPECT_EQ(message, "unable to get local issuer certificate");
}

TEST(TlsModuleTest, ContextOfTheWrongSideIsRefused) {
  EXPECT_THROW(aio::run([]() -> aio::Coro<void> {
                 aio::ServerRef server =
                     co_await tls_server(pki_files().server_cert, pki_files().server_key);
                 aio::ConnectionOptions connect = tls_to(server);
                 connect.ssl = aio::tls::SSLContext::create(aio::tls::PROTOCOL_TLS_SERVER);
                 std::exception_ptr error;
                 try {
                   co_await aio::create_connection(
                       aio::get_running_loop(), [] { return std::make_shared<Client>(); },
                       std::move(connect));
                 } catch (...) {
                   error = std::current_exception();
                 }
                 server->close();
                 co_await server->wait_closed();
                 if (error) std::rethrow_exception(error);
               }()),
               aio::ValueError);
}

}  // namespace
