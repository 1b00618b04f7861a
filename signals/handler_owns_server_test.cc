// A signal handler may own what it stops: a handler that holds the last reference to a server
// (the pattern of examples/echo_server.cc) is destroyed by loop.close() in whatever order the
// loop drops its per-loop state, with connections still attached or not. Before
// net/closes_with_loop kept a back-pointer to its registry, the server could be freed while
// still registered and then be called by the registry (a crash under either order).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coroutine>
#include <memory>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "net/net.h"
#include "signals/signals.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

Coro<ServerRef> listen(EventLoop& loop) {
  co_return co_await create_server(
      loop, [] { return std::make_shared<Protocol>(); }, "127.0.0.1", 0);
}

TEST(HandlerOwnsServerTest, TheLastReferenceGoesWithTheLoop) {
  for (bool close_server_first : {false, true}) {
    EventLoop loop;
    ServerRef server = loop.run_until_complete(listen(loop));
    if (close_server_first) server->close();
    add_signal_handler(loop, SIGUSR1, [server] { server->close(); });
    server = ServerRef();  // the handler holds the only reference now
    loop.close();
    EXPECT_FALSE(remove_signal_handler(loop, SIGUSR1));
  }
}

// The same without signals, made independent of the (hash) order in which close() drops the
// loop's per-loop state: sixteen extensions, each holding the last reference to a server.
struct HoldsServer : internal::LoopResource {
  explicit HoldsServer(ServerRef server) : server(std::move(server)) {}
  ServerRef server;
};

TEST(HandlerOwnsServerTest, ExtensionsHoldingServersGoInAnyOrder) {
  static const char keys[16] = {};
  EventLoop loop;
  for (const char& key : keys) {
    loop.set_extension(&key, std::make_unique<HoldsServer>(loop.run_until_complete(listen(loop))));
  }
  loop.close();
}

TEST(HandlerOwnsServerTest, WithAConnectionStillAttached) {
  EventLoop loop;
  ServerRef server = loop.run_until_complete(listen(loop));
  int port = server->sockets().front().getsockname().port();
  int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_TRUE(testing::run_until(loop, [&] { return server->active_connections() == 1; }));
  add_signal_handler(loop, SIGUSR1, [server] { server->close(); });
  server = ServerRef();
  {
    testing::LogCapture logs;  // "unclosed transport ... closed with its loop" is expected
    loop.close();
  }
  close(client);
}

}  // namespace
}  // namespace aio
