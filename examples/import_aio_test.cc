// A consumer's test as another repository would write it with cc_module_test
// (bazel/cc_module.bzl): no test framework and none of aio's test deps, only what its BUILD
// rule gives (@aio//:module, and aio's fd counter to check nothing is left open). It serves one
// line over loopback TCP with the streams API and reads it back.
#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <cstdio>
#include <string>
#include <string_view>

#include "testing/fd_count.h"

import aio;

namespace {

aio::Coro<std::string> echo_once(std::string line) {
  aio::ServerRef server = co_await aio::start_server(
      [](aio::StreamReader reader, aio::StreamWriter writer) -> aio::Coro<void> {
        writer.write(std::string_view(co_await reader.readline()));
        co_await writer.drain();
        writer.close();
      },
      "127.0.0.1", 0);
  auto [reader, writer] =
      co_await aio::open_connection("127.0.0.1", server->sockets().front().getsockname().port());
  writer.write(std::string_view(line));
  std::string reply = co_await aio::wait_for(reader.read(), 10);
  writer.close();
  co_await writer.wait_closed();
  server->close();
  co_await server->wait_closed();
  co_return reply;
}

}  // namespace

int main() {
  int fds_before = aio::testing::open_fd_count();
  std::string reply = aio::run(echo_once("consumer\n"));
  int fds_after = aio::testing::open_fd_count();
  if (reply != "consumer\n") {
    std::fprintf(stderr, "FAIL: echoed '%s'\n", reply.c_str());
    return 1;
  }
  if (fds_after != fds_before) {
    std::fprintf(stderr, "FAIL: %d fds open before, %d after\n", fds_before, fds_after);
    return 1;
  }
  std::printf("PASS: import aio; echoed one line, no fd left open\n");
  return 0;
}
