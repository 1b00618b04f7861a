// The umbrella target as a consumer uses it: one include, one dependency (@aio//:aio), and a
// server, a client and aio::run from it.
#include "aio.h"

#include <string>
#include <type_traits>

#include "gtest/gtest.h"

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
  writer.write(std::string("through the umbrella\n"));
  std::string line = co_await aio::wait_for(reader.readline(), 10);
  writer.close();
  co_await writer.wait_closed();
  server->close();
  co_await server->wait_closed();
  co_return line;
}

TEST(UmbrellaTest, OneIncludeGivesLoopNetAndRun) {
  EXPECT_EQ(aio::run(round_trip()), "through the umbrella\n");
  // The other packages are there too.
  EXPECT_TRUE(aio::tls::create_default_context()->check_hostname());
  auto child = []() -> aio::Coro<int> {
    aio::Process process = co_await aio::create_subprocess_exec("/bin/sh", {"-c", "exit 3"});
    co_return co_await process.wait();
  };
  EXPECT_EQ(aio::run(child()), 3);
  // The low-level subprocess API and every child watcher come with the one include too.
  static_assert(std::is_class_v<aio::process::PidfdChildWatcher>);
  static_assert(std::is_class_v<aio::SubprocessError>);
  static_assert(std::is_class_v<aio::SubprocessConnection<>>);
  EXPECT_NE(aio::process::get_child_watcher(), nullptr);
}

}  // namespace
