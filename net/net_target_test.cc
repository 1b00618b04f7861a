// @aio//net alone gives what its API is used with: the loop's headers (aio::run, wait_for,
// Task) come with it, with no other dependency. A datagram round trip through
// create_datagram_endpoint, on a Protocol of the test's own.
#include <string>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "net/net.h"

namespace {

struct Echo : aio::DatagramProtocol {
  aio::DatagramTransport* transport = nullptr;
  void connection_made(aio::DatagramTransport& t) override { transport = &t; }
  void datagram_received(std::span<const std::byte> data, const aio::SocketAddress& from) override {
    transport->sendto(data, &from);
  }
};

struct Client : aio::DatagramProtocol {
  aio::Future<std::string> reply = aio::get_running_loop().create_future<std::string>();
  void datagram_received(std::span<const std::byte> data, const aio::SocketAddress&) override {
    if (!reply.done())
      reply.set_result(std::string(reinterpret_cast<const char*>(data.data()), data.size()));
  }
};

aio::Coro<std::string> round_trip() {
  aio::EventLoop& loop = aio::get_running_loop();
  aio::DatagramOptions server_options;
  server_options.local_addr = {{"127.0.0.1", "0"}};
  auto [server, echo] = co_await aio::create_datagram_endpoint(
      loop, [] { return std::make_shared<Echo>(); }, std::move(server_options));
  auto address = std::any_cast<aio::SocketAddress>(server->get_extra_info("sockname"));
  aio::DatagramOptions client_options;
  client_options.remote_addr = {{"127.0.0.1", std::to_string(address.port())}};
  auto client = std::make_shared<Client>();
  auto [transport, protocol] = co_await aio::create_datagram_endpoint(
      loop, [client] { return client; }, std::move(client_options));
  transport->sendto(std::string_view("via //net"));
  std::string reply = co_await aio::wait_for(client->reply, 10);
  transport->close();
  server->close();
  co_await aio::sleep(0);
  co_return reply;
}

TEST(NetTargetTest, NetAloneGivesTheLoopAndRun) { EXPECT_EQ(aio::run(round_trip()), "via //net"); }

}  // namespace
