// Many TLS connections at once: 25 clients each sending 2 MiB through an aio TLS echo server and
// checking every byte that comes back, over TCP and over a UNIX socket; then every connection
// and fd is gone.
#include "tls/tls_test_util.h"

namespace aio::tls {
namespace {

using testing::close_server;
using testing::pattern;
using testing::pki;
using testing::port_of;

constexpr int kClients = 25;
constexpr std::size_t kBytes = 2 << 20;

// Collects what comes back; `echoed` is done once `expected` bytes arrived, `lost` at the end.
class Collector : public Protocol {
 public:
  Collector(EventLoop& loop, std::size_t expected)
      : expected_(expected), echoed(loop.create_future()), lost(loop.create_future()) {}
  void data_received(std::span<const std::byte> data) override {
    received.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (received.size() >= expected_ && !echoed.done()) echoed.set_result();
  }
  void connection_lost(std::exception_ptr error) override {
    if (!echoed.done())
      echoed.set_exception(error ? error : std::make_exception_ptr(RuntimeError("closed early")));
    lost.set_result();
  }
  std::string received;

 private:
  std::size_t expected_;

 public:
  Future<void> echoed, lost;
};

Coro<bool> one_client(EventLoop& loop, int index, std::optional<int> port, std::string path) {
  std::string data = pattern(kBytes, static_cast<unsigned>(index));
  auto collector = std::make_shared<Collector>(loop, data.size());
  ProtocolFactory factory = [collector] { return collector; };
  Connection<> connection;
  if (port) {
    ConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = std::to_string(*port);
    options.ssl = pki().client_context();
    connection = co_await create_connection(loop, factory, std::move(options));
  } else {
    connection = co_await create_unix_connection(loop, factory, path, {},
                                                 {pki().client_context(), "localhost", {}});
  }
  connection.first->write(data);
  co_await collector->echoed;
  bool intact = collector->received == data;
  connection.first->close();
  co_await collector->lost;
  co_return intact;
}

void run_clients(EventLoop& loop, std::optional<int> port, const std::string& path) {
  std::vector<Future<bool>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(loop.create_task(one_client(loop, i, port, path)));
  }
  auto intact = loop.run_until_complete(aio::wait_for(gather(std::move(clients)), 120));
  EXPECT_EQ(std::vector<bool>(intact.begin(), intact.end()), std::vector<bool>(kClients, true));
}

TEST(TlsLoadTest, TwentyFiveClientsTwoMebibytesEachWayOverTcp) {
  EventLoop loop;
  ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = "0";
  options.ssl = pki().server_context();
  ServerRef server =
      loop.run_until_complete(create_server(loop, testing::echo_protocols(), std::move(options)));
  run_clients(loop, port_of(server), "");
  ASSERT_TRUE(testing::run_until(loop, [&] { return server->active_connections() == 0; }));
  close_server(loop, server);
}

TEST(TlsLoadTest, TwentyFiveClientsTwoMebibytesEachWayOverUnix) {
  testing::TempDir dir;
  std::string path = dir.file("load.sock");
  EventLoop loop;
  ServerRef server = loop.run_until_complete(create_unix_server(
      loop, testing::echo_protocols(), path, {}, 100, true, {pki().server_context(), {}, {}}));
  run_clients(loop, std::nullopt, path);
  ASSERT_TRUE(testing::run_until(loop, [&] { return server->active_connections() == 0; }));
  close_server(loop, server);
}

}  // namespace
}  // namespace aio::tls
