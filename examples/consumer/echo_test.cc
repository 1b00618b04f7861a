// The consumer's tests: its protocol over a real loopback connection (@aio//net), and the same
// protocol against an in-memory peer in virtual time (@aio//testing).
#include "echo.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loop/loop.h"
#include "net/net.h"
#include "testing/leak_check.h"
#include "testing/loop_test_util.h"
#include "testing/memory_transport.h"
#include "testing/protocol_matchers.h"
#include "testing/protocol_recorder.h"

namespace {

using aio::testing::Received;
using aio::testing::TraceIs;

aio::Coro<std::string> echo_over_loopback(std::string text) {
  aio::EventLoop& loop = aio::get_running_loop();
  aio::ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = "0";
  aio::ServerRef server = co_await aio::create_server(
      loop, [] { return std::make_shared<consumer::UpperEcho>(); }, std::move(options));
  int port = server->sockets().front().getsockname().port();
  auto client = std::make_shared<aio::testing::RecordingProtocol>();
  auto [transport, protocol] = co_await aio::create_connection(
      loop, [client] { return client; }, "127.0.0.1", static_cast<std::uint16_t>(port));
  transport->write(text);
  for (int i = 0; i < 1000 && client->received.size() < text.size(); ++i) {
    co_await aio::sleep(0.005);
  }
  transport->close();
  server->close();
  co_await server->wait_closed();
  co_return client->received;
}

TEST(ConsumerEchoTest, EchoesUpperCasedOverLoopback) {
  aio::testing::LeakCheck leaks;
  EXPECT_EQ(aio::run(echo_over_loopback("hello from a consumer")), "HELLO FROM A CONSUMER");
}

TEST(ConsumerEchoTest, EchoesUpperCasedOverAnInMemoryPairInVirtualTime) {
  aio::testing::LeakCheck leaks;
  aio::EventLoop loop{aio::testing::virtual_time()};
  auto server = std::make_shared<consumer::UpperEcho>();
  auto client = std::make_shared<aio::testing::RecordingProtocol>();
  auto [to_server, to_client] = aio::testing::MemoryTransport::pair(loop, client, server);
  to_server->set_delay(2);  // what the client writes takes 2 s to arrive
  to_server->write(std::string_view("abc"));
  aio::testing::run_until(loop, [&] { return client->received == "ABC"; }, 60);
  EXPECT_DOUBLE_EQ(loop.time(), 2.0);
  to_server->close();
  aio::testing::run_until(loop, [&] { return client->lost(); }, 60);
  EXPECT_THAT(*client, Received("ABC"));
  EXPECT_THAT(*client, TraceIs("made data lost"));
  loop.close();
}

}  // namespace
