// Who keeps a Server alive: its connections (each holds a reference until connection_lost, as
// asyncio's _attach/_detach) and, while it serves, the server itself. Dropping the last user
// reference must never free a server its transports still report to.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/task.h"
#include "net/server.h"
#include "testing/loop_test_util.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using testing::read_some;
using testing::RecordingFactory;
using testing::run_until;

// A blocking connect (the kernel completes it from the backlog), then non-blocking use.
Socket connect_to(const SocketAddress& address, int* error = nullptr) {
  Socket client(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  int result = ::connect(client.fileno(), address.data(), address.size());
  if (error != nullptr) *error = result == 0 ? 0 : errno;
  client.setblocking(false);
  return client;
}

SocketAddress loopback_of(const Socket& listener) {
  SocketAddress bound = listener.getsockname();
  return bound.family() == AF_INET6 ? SocketAddress::ipv6("::1", bound.port())
                                    : SocketAddress::ipv4("127.0.0.1", bound.port());
}

// Every interface, as `create_server(host=None, port=0)`: one IPv4 and one IPv6 listener (both
// on the same port unless the kernel gives different ones).
ServerRef serve_everywhere(EventLoop& loop, RecordingFactory<>& factory) {
  ServerOptions options;
  options.port = "0";
  return loop.run_until_complete(create_server(loop, factory.factory(), std::move(options)));
}

// Connects `per_listener` clients to every listener of `server` and waits until each has
// connection_made on the server side.
std::vector<Socket> connect_clients(EventLoop& loop, Server& server, RecordingFactory<>& factory,
                                    int per_listener) {
  std::vector<Socket> clients;
  for (const Socket& listener : server.sockets()) {
    for (int i = 0; i < per_listener; ++i) clients.push_back(connect_to(loopback_of(listener)));
  }
  // Made is not enough: connection_made (which gives the protocol its transport) comes one
  // iteration after the factory ran.
  run_until(loop, [&] {
    if (factory.made.size() != clients.size()) return false;
    for (const auto& protocol : factory.made) {
      if (protocol->state() == testing::RecordingProtocol::State::kNew) return false;
    }
    return true;
  });
  return clients;
}

bool all_lost(const RecordingFactory<>& factory) {
  for (const auto& protocol : factory.made) {
    if (!protocol->lost()) return false;
  }
  return true;
}

enum class Ending { kClientCloses, kTransportCloses, kTransportAborts, kLoopCloses };

// Ends every connection the way `ending` says (kLoopCloses: leaves them to the loop's close()).
void end_connections(Ending ending, std::vector<Socket>& clients, RecordingFactory<>& factory) {
  for (std::size_t i = 0; i < factory.made.size(); ++i) {
    if (ending == Ending::kClientCloses) clients[i].close();
    if (ending == Ending::kTransportCloses) factory.made[i]->transport()->close();
    if (ending == Ending::kTransportAborts) factory.made[i]->transport()->abort();
  }
}

class DroppedServerTest : public ::testing::TestWithParam<Ending> {};

// The reported crash: the last ServerRef goes while connections are open; they end later.
TEST_P(DroppedServerTest, ConnectionsOutliveTheLastUserReference) {
  auto loop = std::make_unique<EventLoop>();
  RecordingFactory<> factory;
  ServerRef server = serve_everywhere(*loop, factory);
  ASSERT_EQ(server->sockets().size(), 2u);
  std::vector<Socket> clients = connect_clients(*loop, *server, factory, 2);
  ASSERT_EQ(factory.made.size(), 4u);
  server->close();
  bool wait_closed_returned = false;
  Task<void> waiter = loop->create_task([](ServerRef server, bool& returned) -> Coro<void> {
    co_await server->wait_closed();
    returned = true;
  }(server, wait_closed_returned));
  server.reset();  // the user's last reference; the waiter task holds one more
  loop->run_until_complete(sleep(0.01));
  EXPECT_FALSE(wait_closed_returned) << "connections are still open";
  if (GetParam() == Ending::kLoopCloses) {
    // The connections never end on their own; the loop closes them (and the waiter).
    testing::LogCapture logs;
    loop->close();
    for (auto& protocol : factory.made) {
      EXPECT_FALSE(protocol->lost()) << "close() calls no protocol";
    }
    return;
  }
  end_connections(GetParam(), clients, factory);
  ASSERT_TRUE(run_until(*loop, [&] { return all_lost(factory) && wait_closed_returned; }));
  for (auto& protocol : factory.made) EXPECT_EQ(protocol->events.back().substr(0, 4), "lost");
  loop->run_until_complete(std::move(waiter));
  loop->close();
}

// The same with the reference dropped before close(): a serving server keeps itself, so the
// connections first end, then the loop's close() closes the (still serving) server.
TEST_P(DroppedServerTest, ServingServerDroppedWithOpenConnections) {
  auto loop = std::make_unique<EventLoop>();
  RecordingFactory<> factory;
  ServerRef server = serve_everywhere(*loop, factory);
  std::vector<Socket> clients = connect_clients(*loop, *server, factory, 1);
  ASSERT_EQ(factory.made.size(), 2u);
  server.reset();
  end_connections(GetParam(), clients, factory);
  if (GetParam() != Ending::kLoopCloses)
    ASSERT_TRUE(run_until(*loop, [&] { return all_lost(factory); }));
  testing::LogCapture logs;
  loop->close();
  bool warned = false;
  for (const auto& record : logs.records()) {
    warned |= record.message.find("unclosed server") != std::string::npos;
  }
  EXPECT_TRUE(warned) << "the dropped server was still serving when the loop closed";
}

INSTANTIATE_TEST_SUITE_P(Endings, DroppedServerTest,
                         ::testing::Values(Ending::kClientCloses, Ending::kTransportCloses,
                                           Ending::kTransportAborts, Ending::kLoopCloses),
                         [](const ::testing::TestParamInfo<Ending>& info) {
                           switch (info.param) {
                             case Ending::kClientCloses:
                               return "ClientCloses";
                             case Ending::kTransportCloses:
                               return "TransportCloses";
                             case Ending::kTransportAborts:
                               return "TransportAborts";
                             case Ending::kLoopCloses:
                               return "LoopCloses";
                           }
                           return "Unknown";
                         });

TEST(ServerLifetimeTest, ADroppedServingServerKeepsAccepting) {
  EventLoop loop;
  RecordingFactory<> factory;
  factory.setup = [](testing::RecordingProtocol& protocol) {
    protocol.on_data = [](Transport& transport, std::span<const std::byte> data) {
      transport.write(data);
    };
  };
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  SocketAddress address = server->sockets()[0].getsockname();
  server.reset();
  Socket client = connect_to(address);
  ::send(client.fileno(), "ping", 4, 0);
  std::string got;
  ASSERT_TRUE(run_until(loop, [&] {
    got += read_some(client.fileno());
    return got == "ping";
  }));
  client.close();
  ASSERT_TRUE(run_until(loop, [&] { return all_lost(factory); }));
  testing::LogCapture logs;
  loop.close();
}

TEST(ServerLifetimeTest, CancellingServeForeverClosesADroppedServer) {
  EventLoop loop;
  RecordingFactory<> factory;
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  SocketAddress address = server->sockets()[0].getsockname();
  Task<void> serving = loop.create_task(server->serve_forever());
  server.reset();
  loop.run_until_complete(sleep(0.01));
  int error = 0;
  Socket before = connect_to(address, &error);
  EXPECT_EQ(error, 0);
  ASSERT_TRUE(run_until(loop, [&] { return factory.made.size() == 1u; }));
  serving.cancel();
  EXPECT_THROW(loop.run_until_complete(std::move(serving)), CancelledError);
  Socket after = connect_to(address, &error);
  EXPECT_EQ(error, ECONNREFUSED) << "cancelling serve_forever closed the listener";
  before.close();
  ASSERT_TRUE(run_until(loop, [&] { return all_lost(factory); }));
  testing::LogCapture logs;
  loop.close();
  for (const auto& record : logs.records()) {
    EXPECT_EQ(record.message.find("unclosed"), std::string::npos) << record.message;
  }
}

// Many servers opened and dropped with live connections, ended in every way, one loop.
TEST(ServerLifetimeTest, StressOpenAndDropServersWithLiveConnections) {
  EventLoop loop;
  std::vector<std::unique_ptr<RecordingFactory<>>> factories;
  std::vector<Socket> clients;
  for (int round = 0; round < 60; ++round) {
    auto& factory = *factories.emplace_back(std::make_unique<RecordingFactory<>>());
    ServerRef server =
        loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
    std::vector<Socket> made = connect_clients(loop, *server, factory, 3);
    ASSERT_EQ(factory.made.size(), 3u);
    if (round % 2 == 0) server->close();  // odd rounds: dropped while serving
    server.reset();
    // One connection ends from the client, one is closed and one aborted by the server side.
    made[0].close();
    factory.made[1]->transport()->close();
    factory.made[2]->transport()->abort();
    for (Socket& client : made) clients.push_back(std::move(client));
    if (round % 5 == 4) loop.run_until_complete(sleep(0));
  }
  ASSERT_TRUE(run_until(loop, [&] {
    for (auto& factory : factories) {
      if (!all_lost(*factory)) return false;
    }
    return true;
  }));
  clients.clear();
  testing::LogCapture logs;
  loop.close();  // closes the 30 servers dropped while serving
}

}  // namespace
}  // namespace aio
