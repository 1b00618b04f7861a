// The README's TLS example, kept compiling and true (with the test certificates' paths).
#include "loop/run.h"
#include "tls/tls_test_util.h"

namespace aio::tls {
namespace {

struct Echo : aio::Protocol {
  aio::Transport* transport_ = nullptr;
  void connection_made(aio::Transport& t) override { transport_ = &t; }
  void data_received(std::span<const std::byte> data) override { transport_->write(data); }
};

aio::Coro<std::string> tls_server_and_client(std::string server_pem, std::string server_key,
                                             std::string ca_pem) {
  aio::EventLoop& loop = aio::get_running_loop();
  auto server_context = aio::tls::create_default_context(aio::tls::Purpose::CLIENT_AUTH);
  server_context->load_cert_chain(server_pem, server_key);
  aio::ServerOptions listen;
  listen.hosts = {"127.0.0.1"};
  listen.port = "0";  // the README says 8443
  listen.ssl = server_context;
  aio::ServerRef server =
      co_await aio::create_server(loop, [] { return std::make_shared<Echo>(); }, std::move(listen));

  aio::ConnectionOptions connect;
  connect.host = "localhost";
  connect.port = std::to_string(server->sockets().front().getsockname().port());
  connect.ssl = aio::tls::create_default_context(aio::tls::Purpose::SERVER_AUTH, ca_pem);
  auto [transport, protocol] = co_await aio::create_connection(
      loop, [] { return std::make_shared<Echo>(); }, std::move(connect));
  auto cert = std::any_cast<aio::tls::PeerCertificate>(transport->get_extra_info("peercert"));
  transport->close();
  server->close();
  co_await server->wait_closed();
  co_return cert.subject_field("commonName");
}

TEST(ReadmeTlsTest, ServerAndClient) {
  EXPECT_EQ(aio::run(tls_server_and_client(testing::pki().server_cert, testing::pki().server_key,
                                           testing::pki().ca_cert)),
            "localhost");
}

}  // namespace
}  // namespace aio::tls
