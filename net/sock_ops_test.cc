// The sock_* operations as asyncio 3.11's selector_events.py behaves: each tries the system call
// first, waits on an fd watcher only when it would block, removes that watcher however it ends,
// and a cancelled operation takes nothing from the socket.
#include "net/sock_ops.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "dns/resolver.h"
#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "net/connection.h"
#include "testing/dnsmasq.h"
#include "testing/fd_count.h"
#include "testing/loop_test_util.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::open_fd_count;

template <class T>
T run(EventLoop& loop, Coro<T> coro, double timeout = 10) {
  return loop.run_until_complete(aio::wait_for(std::move(coro), timeout));
}

// Runs the loop for `seconds` (lets pending operations reach their watchers).
void run_for(EventLoop& loop, double seconds) { loop.run_until_complete(aio::sleep(seconds)); }

Socket tcp_listener(const std::string& host = "127.0.0.1", int backlog = 16) {
  Socket sock = Socket::create(AF_INET, SOCK_STREAM);
  sock.bind(SocketAddress::ipv4(host, 0));
  sock.listen(backlog);
  return sock;
}

bool wait_readable(int fd, int timeout_ms = 5000) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, timeout_ms) == 1;
}

// A connected TCP pair over loopback: (client, server side), both non-blocking.
std::pair<Socket, Socket> tcp_pair() {
  Socket listener = tcp_listener();
  Socket client = Socket::create(AF_INET, SOCK_STREAM);
  client.setblocking(true);
  SocketAddress address = listener.getsockname();
  EXPECT_EQ(::connect(client.fileno(), address.data(), address.size()), 0);
  client.setblocking(false);
  EXPECT_TRUE(wait_readable(listener.fileno()));
  int fd = ::accept4(listener.fileno(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  EXPECT_GE(fd, 0);
  return {std::move(client), Socket(fd)};
}

void send_now(Socket& sock, std::string_view data) {
  ASSERT_EQ(::send(sock.fileno(), data.data(), data.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(data.size()));
}

// --- sock_recv / sock_recv_into ------------------------------------------------------------------

// On virtual time: the peer's "later" writes come from timers of the same loop, so they happen
// at exact instants and no real time passes.
TEST(SockRecvTest, ReceivesWhatIsThereThenWaitsThenSeesEof) {
  EventLoop loop(testing::virtual_time());
  auto [a, b] = Socket::pair();
  send_now(a, "hello");
  EXPECT_EQ(run(loop, sock_recv(loop, b, 3)), "hel");
  std::byte buffer[16];
  EXPECT_EQ(run(loop, sock_recv_into(loop, b, buffer)), 2u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer), 2), "lo");

  // Nothing there: the operation waits for the data.
  loop.call_later(0.05, [&] { send_now(a, "later"); });
  EXPECT_EQ(run(loop, sock_recv(loop, b, 100)), "later");
  EXPECT_DOUBLE_EQ(loop.time(), 0.05) << "received as soon as it was sent";
  loop.call_later(0.05, [&] { send_now(a, "into"); });
  EXPECT_EQ(run(loop, sock_recv_into(loop, b, buffer)), 4u);
  EXPECT_DOUBLE_EQ(loop.time(), 0.1);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer), 4), "into");
  EXPECT_FALSE(loop.remove_reader(b.fileno()));  // no watcher left behind

  loop.call_later(0.05, [&] { a.close(); });
  EXPECT_EQ(run(loop, sock_recv(loop, b, 100)), "");
  EXPECT_DOUBLE_EQ(loop.time(), 0.15);
  EXPECT_EQ(run(loop, sock_recv_into(loop, b, buffer)), 0u);
  EXPECT_EQ(run(loop, sock_recv(loop, b, 0)), "");
}

TEST(SockRecvTest, ResetByPeerIsConnectionResetError) {
  EventLoop loop;
  auto [client, server] = tcp_pair();
  linger hard{1, 0};  // close() sends RST
  ASSERT_EQ(::setsockopt(server.fileno(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
  loop.call_later(0.05, [&] { server.close(); });
  try {
    run(loop, sock_recv(loop, client, 100));
    FAIL() << "no error";
  } catch (const ConnectionResetError& e) {
    EXPECT_STREQ(e.what(), "[Errno 104] Connection reset by peer");
  }
  EXPECT_FALSE(loop.remove_reader(client.fileno()));
}

TEST(SockRecvTest, CancelledRecvTakesNothingAndLeavesNoWatcher) {
  EventLoop loop;
  auto [a, b] = Socket::pair();
  Task<std::string> pending = loop.create_task(sock_recv(loop, b, 100));
  run_for(loop, 0.02);
  EXPECT_FALSE(pending.done());
  pending.cancel();
  EXPECT_THROW(loop.run_until_complete(pending), CancelledError);
  EXPECT_FALSE(loop.remove_reader(b.fileno()));  // the watcher went with the operation

  send_now(a, "abc");
  send_now(a, "def");
  run_for(loop, 0.02);
  EXPECT_EQ(run(loop, sock_recv(loop, b, 100)), "abcdef");  // nothing lost, nothing twice
}

TEST(SockRecvTest, CancelledWhileDataArrivesInTheSameIteration) {
  // The data and the cancellation land in the same loop iteration: the cancelled operation must
  // not consume it.
  EventLoop loop;
  auto [a, b] = Socket::pair();
  Task<std::string> pending = loop.create_task(sock_recv(loop, b, 100));
  run_for(loop, 0.02);
  loop.call_soon([&] {
    pending.cancel();
    send_now(a, "kept");
  });
  EXPECT_THROW(loop.run_until_complete(pending), CancelledError);
  run_for(loop, 0.02);
  EXPECT_EQ(run(loop, sock_recv(loop, b, 100)), "kept");
}

TEST(SockRecvTest, CancelledRecvUnwindingAfterANewOneStartedLeavesTheNewWatcher) {
  // A new sock_recv on the same fd registers its watcher (replacing the old one's) before the
  // cancelled old one unwinds: the old one must remove its own watcher only, not the new one's
  // (asyncio's _sock_read_done checks its handle for this).
  EventLoop loop;
  auto [a, b] = Socket::pair();
  Task<std::string> old_recv = loop.create_task(sock_recv(loop, b, 100));
  run_for(loop, 0.02);
  Task<std::string> new_recv;
  loop.call_soon([&] {
    new_recv = loop.create_task(sock_recv(loop, b, 100));  // its first step runs first
    old_recv.cancel();
  });
  EXPECT_THROW(loop.run_until_complete(old_recv), CancelledError);
  run_for(loop, 0.02);
  EXPECT_FALSE(new_recv.done());
  send_now(a, "for the new one");
  try {
    EXPECT_EQ(loop.run_until_complete(aio::wait_for(Future<std::string>(new_recv), 2)),
              "for the new one");
  } catch (const TimeoutError&) {
    FAIL() << "the new sock_recv lost its watcher to the cancelled one";
  }
  EXPECT_FALSE(loop.remove_reader(b.fileno()));
}

TEST(SockRecvTest, CancelledRecvIntoTakesNothing) {
  EventLoop loop;
  auto [a, b] = Socket::pair();
  std::byte buffer[8] = {};
  Task<std::size_t> pending = loop.create_task(sock_recv_into(loop, b, buffer));
  run_for(loop, 0.02);
  pending.cancel();
  EXPECT_THROW(loop.run_until_complete(pending), CancelledError);
  EXPECT_FALSE(loop.remove_reader(b.fileno()));
  send_now(a, "12345678");
  EXPECT_EQ(run(loop, sock_recv_into(loop, b, buffer)), 8u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer), 8), "12345678");
}

// --- sock_sendall --------------------------------------------------------------------------------

// On virtual time the reader's naps cost nothing, and the loop only moves the clock when it is
// idle: before each read the sender has filled every buffer and waits for room.
TEST(SockSendallTest, EightMegabytesToASlowReader) {
  EventLoop loop(testing::virtual_time());
  auto [client, server] = tcp_pair();
  std::string data(8 << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>((i * 7 + i / 4096) % 251);
  std::string received;
  bool sent = false;
  auto reader = [&]() -> Coro<void> {
    while (received.size() < data.size()) {
      std::string chunk = co_await sock_recv(loop, server, 64 * 1024);
      if (chunk.empty()) break;
      received += chunk;
      co_await aio::sleep(0.0005);  // slow: the sender has to wait for room, many times
    }
  };
  auto writer = [&]() -> Coro<void> {
    co_await sock_sendall(loop, client, data);
    sent = true;
  };
  auto both = [&]() -> Coro<void> {
    Task<void> read_task = loop.create_task(reader());
    co_await writer();
    co_await read_task;
  };
  run(loop, both(), 60);
  EXPECT_TRUE(sent);
  EXPECT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data);
  EXPECT_FALSE(loop.remove_writer(client.fileno()));
}

TEST(SockSendallTest, EmptyDataAndBrokenPipe) {
  EventLoop loop;
  auto [a, b] = Socket::pair();
  run(loop, sock_sendall(loop, a, ""));
  b.close();
  try {
    run(loop, sock_sendall(loop, a, "to nobody"));
    FAIL() << "no error";
  } catch (const BrokenPipeError& e) {
    EXPECT_STREQ(e.what(), "[Errno 32] Broken pipe");
  }
}

TEST(SockSendallTest, CancelledSendallLeavesNoWatcher) {
  EventLoop loop;
  auto [a, b] = Socket::pair();
  std::string data(16 << 20, 'z');  // far more than a socket buffer: it must wait
  Task<void> pending = loop.create_task(sock_sendall(loop, a, data));
  run_for(loop, 0.02);
  EXPECT_FALSE(pending.done());
  pending.cancel();
  EXPECT_THROW(loop.run_until_complete(pending), CancelledError);
  EXPECT_FALSE(loop.remove_writer(a.fileno()));
}

// --- sock_connect --------------------------------------------------------------------------------

TEST(SockConnectTest, ConnectsToAnAddress) {
  EventLoop loop;
  Socket listener = tcp_listener();
  Socket sock = Socket::create(AF_INET, SOCK_STREAM);
  run(loop, sock_connect(loop, sock, listener.getsockname()));
  EXPECT_TRUE(sock.getpeername() == listener.getsockname());
  EXPECT_FALSE(loop.remove_writer(sock.fileno()));
  // A UNIX socket path.
  char dir[] = "/tmp/aio-sockops-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/s";
  Socket unix_server = Socket::create(AF_UNIX, SOCK_STREAM);
  unix_server.bind(SocketAddress::unix_path(path));
  unix_server.listen(4);
  Socket unix_client = Socket::create(AF_UNIX, SOCK_STREAM);
  run(loop, sock_connect(loop, unix_client, SocketAddress::unix_path(path)));
  EXPECT_EQ(unix_client.getpeername().path(), path);
  Socket missing = Socket::create(AF_UNIX, SOCK_STREAM);
  EXPECT_EQ(error_message([&] {
              run(loop, sock_connect(loop, missing, SocketAddress::unix_path(path + "-missing")));
            }),
            "[Errno 2] No such file or directory");
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(SockConnectTest, RefusedIsConnectionRefusedErrorNamingTheAddress) {
  EventLoop loop;
  Socket reserved = Socket::create(AF_INET, SOCK_STREAM);
  reserved.bind(SocketAddress::ipv4("127.0.0.1", 0));  // bound, not listening
  std::uint16_t port = reserved.getsockname().port();
  Socket sock = Socket::create(AF_INET, SOCK_STREAM);
  try {
    run(loop, sock_connect(loop, sock, SocketAddress::ipv4("127.0.0.1", port)));
    FAIL() << "connected";
  } catch (const ConnectionRefusedError& e) {
    EXPECT_STREQ(
        e.what(),
        ("[Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(port) + ")").c_str());
  }
  EXPECT_FALSE(loop.remove_writer(sock.fileno()));
}

TEST(SockConnectTest, ConnectsByName) {
  EventLoop loop;
  testing::Dnsmasq dnsmasq({"--host-record=web.test,127.0.0.1"});
  dns::Resolver::of(loop, dns::ResolverOptions{.timeout_ms = 2000, .tries = 2})
      .set_servers(dnsmasq.csv());
  Socket listener = tcp_listener();
  std::uint16_t port = listener.getsockname().port();
  {
    Socket sock = Socket::create(AF_INET, SOCK_STREAM);
    run(loop, sock_connect(loop, sock, "localhost", port));  // /etc/hosts
    EXPECT_TRUE(sock.getpeername() == listener.getsockname());
  }
  {
    Socket sock = Socket::create(AF_INET, SOCK_STREAM);
    run(loop, sock_connect(loop, sock, "web.test", port));  // DNS
    EXPECT_TRUE(sock.getpeername() == listener.getsockname());
  }
  {
    Socket sock = Socket::create(AF_INET, SOCK_STREAM);
    run(loop, sock_connect(loop, sock, "127.0.0.1", port));  // numeric
    EXPECT_TRUE(sock.getpeername() == listener.getsockname());
  }
  {
    Socket sock = Socket::create(AF_INET, SOCK_STREAM);
    EXPECT_THROW(run(loop, sock_connect(loop, sock, "nx.test", port)), dns::ResolverError);
  }
}

TEST(SockConnectTest, CancelledConnectLeavesNoWatcher) {
  EventLoop loop;
  // A listener whose accept queue is full: a new connection stays in progress.
  Socket listener = Socket::create(AF_INET, SOCK_STREAM);
  listener.bind(SocketAddress::ipv4("127.0.0.1", 0));
  listener.listen(0);
  Socket filler = Socket::create(AF_INET, SOCK_STREAM);
  filler.setblocking(true);
  SocketAddress address = listener.getsockname();
  ASSERT_EQ(::connect(filler.fileno(), address.data(), address.size()), 0);
  ASSERT_TRUE(wait_readable(listener.fileno()));
  Socket sock = Socket::create(AF_INET, SOCK_STREAM);
  EXPECT_THROW(run(loop, sock_connect(loop, sock, address), 0.1), TimeoutError);
  EXPECT_FALSE(loop.remove_writer(sock.fileno()));

  // The kernel's attempt goes on. Once the queue has room, connecting again (EALREADY) waits
  // for that same attempt, which completes at its next SYN retry.
  int queued = ::accept4(listener.fileno(), nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(queued, 0);
  ::close(queued);
  run(loop, sock_connect(loop, sock, address));
  EXPECT_TRUE(sock.getpeername() == address);
}

// --- sock_accept ---------------------------------------------------------------------------------

TEST(SockAcceptTest, AcceptsANonBlockingConnectionAndItsPeerAddress) {
  EventLoop loop;
  Socket listener = tcp_listener();
  Socket client = Socket::create(AF_INET, SOCK_STREAM);
  Task<std::pair<Socket, SocketAddress>> accepting = loop.create_task(sock_accept(loop, listener));
  run_for(loop, 0.02);
  EXPECT_FALSE(accepting.done());
  auto body = [&]() -> Coro<void> {
    co_await sock_connect(loop, client, listener.getsockname());
    auto [conn, peer] = co_await Future<std::pair<Socket, SocketAddress>>(accepting);
    EXPECT_TRUE(peer == client.getsockname());
    EXPECT_FALSE(conn.blocking());
    co_await sock_sendall(loop, client, "hi");
    EXPECT_EQ(co_await sock_recv(loop, conn, 10), "hi");
  };
  run(loop, body());
  EXPECT_FALSE(loop.remove_reader(listener.fileno()));
}

TEST(SockAcceptTest, CancelledAcceptLeavesTheConnectionForTheNextOne) {
  EventLoop loop;
  Socket listener = tcp_listener();
  Task<std::pair<Socket, SocketAddress>> pending = loop.create_task(sock_accept(loop, listener));
  run_for(loop, 0.02);
  pending.cancel();
  EXPECT_THROW(loop.run_until_complete(pending), CancelledError);
  EXPECT_FALSE(loop.remove_reader(listener.fileno()));
  Socket client = Socket::create(AF_INET, SOCK_STREAM);
  run(loop, sock_connect(loop, client, listener.getsockname()));
  auto [conn, peer] = run(loop, sock_accept(loop, listener));
  EXPECT_TRUE(peer == client.getsockname());
}

// --- Refusals ------------------------------------------------------------------------------------

TEST(SockOpsTest, DebugModeRefusesABlockingSocket) {
  EventLoop loop;
  loop.set_debug(true);
  // Any lookup would go to a server that never answers (and the test would time out).
  Socket silent = Socket::create(AF_INET, SOCK_DGRAM);
  silent.bind(SocketAddress::ipv4("127.0.0.1", 0));
  dns::Resolver::of(loop, dns::ResolverOptions{.timeout_ms = 5000, .tries = 1})
      .set_servers("127.0.0.1:" + std::to_string(silent.getsockname().port()));
  auto [a, b] = Socket::pair();
  b.setblocking(true);
  std::byte buffer[4];
  const std::string expected = "the socket must be non-blocking";
  EXPECT_EQ(error_message([&] { run(loop, sock_recv(loop, b, 4)); }), expected);
  EXPECT_EQ(error_message([&] { run(loop, sock_recv_into(loop, b, buffer)); }), expected);
  EXPECT_EQ(error_message([&] { run(loop, sock_sendall(loop, b, "x")); }), expected);
  EXPECT_THROW(run(loop, sock_recv(loop, b, 4)), ValueError);
  Socket tcp = Socket::create(AF_INET, SOCK_STREAM);
  tcp.setblocking(true);
  EXPECT_EQ(error_message(
                [&] { run(loop, sock_connect(loop, tcp, SocketAddress::ipv4("127.0.0.1", 9))); }),
            expected);
  // Checked before any lookup, as asyncio.
  EXPECT_EQ(error_message([&] { run(loop, sock_connect(loop, tcp, "slow.test", 9), 1); }),
            expected);
  Socket listener = tcp_listener();
  listener.setblocking(true);
  EXPECT_EQ(error_message([&] { run(loop, sock_accept(loop, listener)); }), expected);
  // Nothing was read from the socket.
  send_now(a, "left");
  b.setblocking(false);
  EXPECT_EQ(run(loop, sock_recv(loop, b, 10)), "left");
}

TEST(SockOpsTest, AnFdATransportOwnsIsRefused) {
  EventLoop loop;
  auto [ours, theirs] = Socket::pair();
  int fd = ours.fileno();
  testing::RecordingFactory<> factory;
  Connection<> connection =
      run(loop, connect_accepted_socket(loop, factory.factory(), std::move(ours)));
  Socket view = Socket::view(fd);
  std::string expected =
      "File descriptor " + std::to_string(fd) + " is used by transport " + connection.first->repr();
  EXPECT_EQ(error_message([&] { run(loop, sock_recv(loop, view, 10)); }), expected);
  std::byte buffer[4];
  EXPECT_EQ(error_message([&] { run(loop, sock_recv_into(loop, view, buffer)); }), expected);
  EXPECT_THROW(run(loop, sock_recv(loop, view, 10)), RuntimeError);
  // The transport still reads: the refused operations took nothing and removed nothing.
  auto body = [&]() -> Coro<void> {
    co_await sock_sendall(loop, theirs, "to the transport");
    while (factory.made[0]->received.size() < 16) co_await aio::sleep(0);
  };
  run(loop, body());
  EXPECT_EQ(factory.made[0]->received, "to the transport");
  connection.first->close();
  auto settle = [&]() -> Coro<void> {
    while (!factory.made[0]->lost()) co_await aio::sleep(0);
  };
  run(loop, settle());
  EXPECT_EQ(factory.made[0]->trace(), "made data lost");
}

}  // namespace
}  // namespace aio
