// @aio//net alone gives what its API is used with: a streams server and client, and aio::run
// and the loop headers, with no other dependency.
#include <string>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "net/net.h"

namespace {

aio::Coro<void> echo_line(aio::StreamReader reader, aio::StreamWriter writer) {
  writer.write(co_await reader.readline());
  co_await writer.drain();
  writer.close();
}

aio::Coro<std::string> round_trip() {
  aio::ServerRef server = co_await aio::start_server(echo_line, "127.0.0.1", 0);
  std::uint16_t port = server->sockets().at(0).getsockname().port();
  auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
  writer.write(std::string("through //net\n"));
  std::string line = co_await aio::wait_for(reader.readline(), 10);
  writer.close();
  co_await writer.wait_closed();
  server->close();
  co_await server->wait_closed();
  co_return line;
}

TEST(NetTargetTest, NetAloneGivesRun) { EXPECT_EQ(aio::run(round_trip()), "through //net\n"); }

}  // namespace
