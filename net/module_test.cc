// `import aio.net;` alone is enough to use //net: a TCP echo over loopback with create_server and
// create_connection (the typed form, so FactoryOf and Connection<P> are exercised), the streams
// API on the same loop, all driven by aio::run, which comes re-exported from aio.loop.
#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <cstddef>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "gtest/gtest.h"

import aio.net;

namespace {

std::string text_of(std::span<const std::byte> data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

struct Echo : aio::Protocol {
  aio::Transport* transport = nullptr;
  void connection_made(aio::Transport& t) override { transport = &t; }
  void data_received(std::span<const std::byte> data) override { transport->write(data); }
};

// Collects what the server sends back and closes once the whole message is there.
struct Client : aio::Protocol {
  explicit Client(std::size_t expected) : expected(expected) {}
  std::size_t expected;
  std::string received;
  aio::Transport* transport = nullptr;
  aio::Future<void> lost = aio::get_running_loop().create_future<void>();
  void connection_made(aio::Transport& t) override { transport = &t; }
  void data_received(std::span<const std::byte> data) override {
    received += text_of(data);
    if (received.size() >= expected) transport->close();
  }
  void connection_lost(std::exception_ptr) override { lost.set_result(); }
};

aio::Coro<std::string> protocol_echo(std::string message) {
  aio::EventLoop& loop = aio::get_running_loop();
  aio::ServerRef server =
      co_await aio::create_server(loop, [] { return std::make_shared<Echo>(); }, "127.0.0.1", 0);
  aio::SocketAddress address = server->sockets().front().getsockname();
  auto [transport, client] = co_await aio::create_connection<Client>(
      loop, [&] { return std::make_shared<Client>(message.size()); }, "127.0.0.1", address.port());
  transport->write(std::string_view(message));
  co_await aio::wait_for(client->lost, 10);
  server->close();
  co_await server->wait_closed();
  co_return client->received;
}

TEST(NetModuleTest, TcpEchoThroughCreateServerAndCreateConnection) {
  EXPECT_EQ(aio::run(protocol_echo("hello through aio.net")), "hello through aio.net");
}

aio::Coro<std::string> streams_echo() {
  aio::ServerRef server = co_await aio::start_server(
      [](aio::StreamReader reader, aio::StreamWriter writer) -> aio::Coro<void> {
        std::string line = co_await reader.readline();
        writer.write(std::string_view(line));
        co_await writer.drain();
        writer.close();
        co_await writer.wait_closed();
      },
      "127.0.0.1", 0);
  auto [reader, writer] =
      co_await aio::open_connection("127.0.0.1", server->sockets().front().getsockname().port());
  writer.write(std::string_view("a line\n"));
  std::string reply = co_await aio::wait_for(reader.read(), 10);  // to EOF
  writer.close();
  co_await writer.wait_closed();
  server->close();
  co_await server->wait_closed();
  co_return reply;
}

TEST(NetModuleTest, StreamsEchoALine) { EXPECT_EQ(aio::run(streams_echo()), "a line\n"); }

TEST(NetModuleTest, ConnectionRefusedIsTheLoopsErrorType) {
  // Bind a port, close it, and connect to it: nobody listens there.
  std::uint16_t port = aio::run([]() -> aio::Coro<std::uint16_t> {
    aio::ServerRef server = co_await aio::create_server(
        aio::get_running_loop(), [] { return std::make_shared<Echo>(); }, "127.0.0.1", 0);
    std::uint16_t free_port = server->sockets().front().getsockname().port();
    server->close();
    co_await server->wait_closed();
    co_return free_port;
  }());
  EXPECT_THROW(aio::run([port]() -> aio::Coro<void> {
                 co_await aio::create_connection(
                     aio::get_running_loop(), [] { return std::make_shared<Echo>(); }, "127.0.0.1",
                     port);
               }()),
               aio::ConnectionRefusedError);
}

}  // namespace
