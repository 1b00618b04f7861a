// create_server / create_unix_server and Server, with raw client sockets as peers.
#include "net/server.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "testing/loop_test_util.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using testing::read_some;
using testing::RecordingFactory;
using testing::RecordingProtocol;
using testing::run_until;

// A blocking connect (the kernel completes it from the backlog), then non-blocking use.
Socket connect_to(const SocketAddress& address, int* error = nullptr) {
  Socket client(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  int result = ::connect(client.fileno(), address.data(), address.size());
  if (error != nullptr) *error = result == 0 ? 0 : errno;
  client.setblocking(false);
  return client;
}

// Echo servers: every protocol writes back what it receives.
RecordingFactory<> echo_factory() {
  RecordingFactory<> factory;
  factory.setup = [](RecordingProtocol& protocol) {
    protocol.on_data = [](Transport& transport, std::span<const std::byte> data) {
      transport.write(data);
    };
  };
  return factory;
}

std::string echo_through(EventLoop& loop, Socket& client, const std::string& message) {
  ::send(client.fileno(), message.data(), message.size(), 0);
  std::string got;
  run_until(loop, [&] {
    got += read_some(client.fileno());
    return got.size() >= message.size();
  });
  return got;
}

TEST(ServerTest, ServesOnAnEphemeralLoopbackPort) {
  EventLoop loop;
  RecordingFactory<> factory = echo_factory();
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  ASSERT_EQ(server->sockets().size(), 1u);
  SocketAddress address = server->sockets()[0].getsockname();
  EXPECT_EQ(address.host(), "127.0.0.1");
  EXPECT_NE(address.port(), 0);
  EXPECT_TRUE(server->is_serving());
  Socket client = connect_to(address);
  EXPECT_EQ(echo_through(loop, client, "ping"), "ping");
  ASSERT_EQ(factory.made.size(), 1u);
  EXPECT_EQ(server->active_connections(), 1u);
  client.close();
  run_until(loop, [&] { return factory.made[0]->lost(); });
  EXPECT_EQ(factory.made[0]->trace(), "made data eof lost");
  EXPECT_EQ(server->active_connections(), 0u);
  server->close();
}

TEST(ServerTest, EveryInterfaceMeansOneIpv4AndOneV6OnlyIpv6Socket) {
  EventLoop loop;
  RecordingFactory<> factory;
  ServerOptions options;
  options.port = "0";
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), std::move(options)));
  std::vector<Socket> sockets = server->sockets();
  ASSERT_EQ(sockets.size(), 2u);
  std::vector<int> families;
  for (Socket& sock : sockets) {
    families.push_back(sock.getsockname().family());
    if (sock.getsockname().family() == AF_INET6) {
      EXPECT_EQ(sock.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY), 1);
      EXPECT_EQ(sock.getsockname().host(), "::");
    } else {
      EXPECT_EQ(sock.getsockname().host(), "0.0.0.0");
    }
    EXPECT_EQ(sock.getsockopt(SOL_SOCKET, SO_REUSEADDR), 1) << "reuse_address is on by default";
  }
  EXPECT_NE(families[0], families[1]);
  server->close();
  EXPECT_TRUE(server->sockets().empty());
}

TEST(ServerTest, SeveralHostsGiveOneSocketPerUniqueAddress) {
  EventLoop loop;
  RecordingFactory<> factory;
  ServerOptions options;
  options.hosts = {"127.0.0.1", "localhost", "127.0.0.1", "::1"};
  options.port = "0";
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), std::move(options)));
  EXPECT_EQ(server->sockets().size(), 2u) << "127.0.0.1 (three times) and ::1";
  server->close();
}

TEST(ServerTest, BindErrorsNameTheAddressAndCloseEverySocket) {
  EventLoop loop;
  RecordingFactory<> factory;
  ServerRef first = loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  std::uint16_t port = first->sockets()[0].getsockname().port();
  ServerOptions options;
  // 127.0.0.2 binds first, then 127.0.0.1 fails: the 127.0.0.2 socket must be closed too (the
  // fd-leak check would catch it).
  options.hosts = {"127.0.0.2", "127.0.0.1"};
  options.port = std::to_string(port);
  options.reuse_address = false;
  try {
    loop.run_until_complete(create_server(loop, factory.factory(), std::move(options)));
    FAIL() << "a second server on a port in use must fail";
  } catch (const OSError& e) {
    EXPECT_EQ(e.err(), EADDRINUSE);
    EXPECT_EQ(std::string(e.what()),
              "[Errno 98] error while attempting to bind on address "
              "('127.0.0.1', " +
                  std::to_string(port) + "): address already in use");
  }
  first->close();
}

TEST(ServerTest, ArgumentErrorsAreAsyncios) {
  EventLoop loop;
  RecordingFactory<> factory;
  EXPECT_EQ(testing::error_message([&] {
              loop.run_until_complete(create_server(loop, factory.factory(), ServerOptions{}));
            }),
            "Neither host/port nor sock were specified");
  ServerOptions both;
  both.port = "0";
  both.sock = Socket::create(AF_INET, SOCK_STREAM);
  EXPECT_EQ(testing::error_message([&] {
              loop.run_until_complete(create_server(loop, factory.factory(), std::move(both)));
            }),
            "host/port and sock can not be specified at the same time");
  ServerOptions datagram;
  datagram.sock = Socket::create(AF_INET, SOCK_DGRAM);
  EXPECT_EQ(testing::error_message([&] {
              loop.run_until_complete(create_server(loop, factory.factory(), std::move(datagram)));
            }).rfind("A Stream Socket was expected, got <socket.socket fd=", 0),
            0u);
}

TEST(ServerTest, CloseStopsListeningButAcceptedConnectionsLiveOn) {
  EventLoop loop;
  RecordingFactory<> factory = echo_factory();
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  SocketAddress address = server->sockets()[0].getsockname();
  Socket client = connect_to(address);
  run_until(loop, [&] { return factory.made.size() == 1; });
  bool closed = false;
  auto wait_closed = [&]() -> Coro<void> {
    co_await server->wait_closed();
    closed = true;
  };
  Task<void> waiting = loop.create_task(wait_closed());
  server->close();
  EXPECT_FALSE(server->is_serving());
  int error = 0;
  Socket refused = connect_to(address, &error);
  EXPECT_EQ(error, ECONNREFUSED) << "the listener closed at once";
  EXPECT_EQ(echo_through(loop, client, "still here"), "still here");
  EXPECT_FALSE(closed) << "wait_closed waits for the last connection";
  client.close();
  run_until(loop, [&] { return closed; });
  loop.run_until_complete(waiting);
  loop.run_until_complete(server->wait_closed());  // returns at once now
}

TEST(ServerTest, StartServingLater) {
  EventLoop loop;
  RecordingFactory<> factory = echo_factory();
  ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = "0";
  options.start_serving = false;
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), std::move(options)));
  EXPECT_FALSE(server->is_serving());
  int error = 0;
  SocketAddress address = server->sockets()[0].getsockname();
  Socket early = connect_to(address, &error);
  EXPECT_EQ(error, ECONNREFUSED) << "not listening before start_serving";
  loop.run_until_complete(server->start_serving());
  loop.run_until_complete(server->start_serving());  // idempotent
  EXPECT_TRUE(server->is_serving());
  Socket client = connect_to(address, &error);
  EXPECT_EQ(error, 0);
  EXPECT_EQ(echo_through(loop, client, "late"), "late");
  server->close();
  client.close();
  loop.run_until_complete(aio::wait_for(server->wait_closed(), 10));
}

TEST(ServerTest, ServeForeverEndsByCancellationWhichClosesTheServer) {
  EventLoop loop;
  RecordingFactory<> factory;
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  Task<void> forever = loop.create_task(server->serve_forever());
  loop.run_until_complete(sleep(0.01));
  std::string message =
      testing::error_message([&] { loop.run_until_complete(server->serve_forever()); });
  EXPECT_NE(message.find("is already being awaited on serve_forever()"), std::string::npos)
      << message;
  forever.cancel();
  EXPECT_THROW(loop.run_until_complete(forever), CancelledError);
  EXPECT_FALSE(server->is_serving());
  EXPECT_TRUE(server->sockets().empty());
  message = testing::error_message([&] { loop.run_until_complete(server->serve_forever()); });
  EXPECT_NE(message.find("is closed"), std::string::npos) << message;
}

TEST(ServerTest, ScopedServerClosesAtTheEndOfTheScope) {
  EventLoop loop;
  RecordingFactory<> factory;
  SocketAddress address;
  {
    Server::Scope scope =
        loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0))->scoped();
    address = scope->sockets()[0].getsockname();
    EXPECT_TRUE(scope->is_serving());
  }
  int error = 0;
  Socket client = connect_to(address, &error);
  EXPECT_EQ(error, ECONNREFUSED);
}

// /tmp rather than $TEST_TMPDIR: Bazel's paths are too long for sockaddr_un (108 bytes).
std::string temp_path(const std::string& name) {
  return "/tmp/" + name + "-" + std::to_string(::getpid());
}

TEST(ServerTest, UnixServerReplacesAStaleSocketButNotAFile) {
  EventLoop loop;
  RecordingFactory<> factory = echo_factory();
  std::string path = temp_path("aio-unix");
  ::unlink(path.c_str());
  {
    // A stale socket file, as a crashed server leaves it.
    Socket stale = Socket::create(AF_UNIX, SOCK_STREAM);
    stale.bind(SocketAddress::unix_path(path));
  }
  ServerRef server = loop.run_until_complete(create_unix_server(loop, factory.factory(), path));
  Socket client = connect_to(SocketAddress::unix_path(path));
  EXPECT_EQ(echo_through(loop, client, "over unix"), "over unix");
  EXPECT_EQ(server->sockets()[0].getsockname().path(), path);
  server->close();
  client.close();
  loop.run_until_complete(aio::wait_for(server->wait_closed(), 10));
  ::unlink(path.c_str());

  std::ofstream(path) << "not a socket";
  std::string message = testing::error_message(
      [&] { loop.run_until_complete(create_unix_server(loop, factory.factory(), path)); });
  EXPECT_EQ(message, "[Errno 98] Address '" + path + "' is already in use");
  struct stat info{};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << "the regular file is left alone";
  ::unlink(path.c_str());
}

TEST(ServerTest, UnixServerOnAnAbstractName) {
  EventLoop loop;
  RecordingFactory<> factory = echo_factory();
  std::string name = std::string(1, '\0') + "aio-abstract-" + std::to_string(::getpid());
  ServerRef server = loop.run_until_complete(create_unix_server(loop, factory.factory(), name));
  EXPECT_TRUE(server->sockets()[0].getsockname().is_abstract());
  Socket client = connect_to(SocketAddress::unix_path(name));
  EXPECT_EQ(echo_through(loop, client, "abstract"), "abstract");
  server->close();
}

int open_fd_count() {
  int count = 0;
  for (int fd = 0; fd < 4096; ++fd) count += ::fcntl(fd, F_GETFD) != -1;
  return count;
}

TEST(ServerTest, OutOfFileDescriptorsPausesAcceptingWithoutClosing) {
  EventLoop loop;
  RecordingFactory<> factory;
  std::vector<ExceptionContext> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  SocketAddress address = server->sockets()[0].getsockname();
  std::vector<Socket> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(connect_to(address));
  rlimit saved{};
  ::getrlimit(RLIMIT_NOFILE, &saved);
  rlimit lowered = saved;
  // Room for exactly one accepted connection (fd numbers are allocated lowest first).
  lowered.rlim_cur = static_cast<rlim_t>(open_fd_count() + 1);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  run_until(loop, [&] { return !reported.empty(); });
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_EQ(factory.made.size(), 1u);
  EXPECT_EQ(reported[0].message, "socket.accept() out of system resource");
  EXPECT_TRUE(holds<OSError>(reported[0].exception));
  // 'socket' holds the listener itself (a tracking view), not only its description.
  const auto* listener = reported[0].get<std::shared_ptr<Socket>>("socket");
  ASSERT_NE(listener, nullptr);
  EXPECT_EQ((*listener)->fileno(), server->sockets()[0].fileno());
  EXPECT_EQ(reported[0].details.at("socket").repr.rfind("<socket.socket fd=", 0), 0u);
  EXPECT_TRUE(server->is_serving()) << "the server stays open";
  // After asyncio's 1 s pause, accepting resumes and the waiting clients get in.
  run_until(loop, [&] { return factory.made.size() == 3; });
  EXPECT_EQ(reported.size(), 1u);
  server->close();
  clients.clear();
  run_until(loop, [&] { return server->active_connections() == 0; });
}

}  // namespace
}  // namespace aio
