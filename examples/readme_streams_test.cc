// The README's streams client, kept compiling and true: it asks a start_server that answers
// each line upper-cased.
#include <cctype>
#include <string>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "net/net.h"

namespace {

std::uint16_t port = 0;  // the server's; the README's snippet says 8888

aio::Coro<std::string> ask(std::string question) {
  auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
  writer.write(question + "\n");
  co_await writer.drain();
  std::string answer = co_await reader.readline();
  writer.close();
  co_await writer.wait_closed();
  co_return answer;
}

aio::Coro<void> upper(aio::StreamReader reader, aio::StreamWriter writer) {
  std::string line = co_await reader.readline();
  for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  writer.write(line);
  co_await writer.drain();
  writer.close();
}

aio::Coro<std::string> main_coro() {
  aio::ServerRef server = co_await aio::start_server(upper, "127.0.0.1", 0);
  port = server->sockets().at(0).getsockname().port();
  std::string answer = co_await aio::wait_for(ask("hello streams"), 10);
  server->close();
  co_await server->wait_closed();
  co_return answer;
}

TEST(ReadmeStreamsTest, AsksAndGetsTheAnswerLine) {
  EXPECT_EQ(aio::run(main_coro()), "HELLO STREAMS\n");
}

}  // namespace
