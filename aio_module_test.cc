// `import aio;` alone gives every package: a child's output (aio.process) travels through a TCP
// streams echo (aio.net) to an address found by the resolver (aio.dns), a signal handler
// (aio.signals) stops the wait, and a TLS client context (aio.tls) has asyncio's defaults.
// What each package's own module test checks in depth, this one checks is reachable through
// the umbrella.
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>

#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

import aio;

namespace {

aio::Coro<std::string> child_output_through_an_echo() {
  aio::EventLoop& loop = aio::get_running_loop();
  std::vector<aio::dns::AddrInfo> where =
      co_await aio::dns::getaddrinfo(loop, "127.0.0.1", "0", AF_INET, SOCK_STREAM);
  aio::ServerRef server = co_await aio::start_server(
      [](aio::StreamReader reader, aio::StreamWriter writer) -> aio::Coro<void> {
        writer.write(std::string_view(co_await reader.readline()));
        co_await writer.drain();
        writer.close();
        co_await writer.wait_closed();
      },
      where.at(0).host(), where.at(0).port());

  aio::Process child = co_await aio::create_subprocess_exec("/bin/echo", {"from a child"});
  auto [out, err] = co_await child.communicate();

  auto [reader, writer] =
      co_await aio::open_connection("127.0.0.1", server->sockets().front().getsockname().port());
  writer.write(std::string_view(out));
  std::string echoed = co_await aio::wait_for(reader.read(), 10);
  writer.close();
  co_await writer.wait_closed();

  aio::Event stop;
  aio::add_signal_handler(loop, SIGUSR2, [&] { stop.set(); });
  ::raise(SIGUSR2);
  co_await aio::wait_for(stop.wait(), 10);
  aio::remove_signal_handler(loop, SIGUSR2);

  server->close();
  co_await server->wait_closed();
  co_return echoed;
}

TEST(AioModuleTest, EveryPackageThroughTheUmbrella) {
  EXPECT_EQ(aio::run(child_output_through_an_echo()), "from a child\n");
}

TEST(AioModuleTest, TlsClientContextHasAsyncioDefaults) {
  auto context = aio::tls::create_default_context();
  EXPECT_EQ(context->protocol(), aio::tls::PROTOCOL_TLS_CLIENT);
  EXPECT_EQ(context->verify_mode(), aio::tls::VerifyMode::CERT_REQUIRED);
  EXPECT_TRUE(context->check_hostname());
}

}  // namespace
