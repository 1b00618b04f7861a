// Every loop method of //net and //dns, called with a closed loop, raises RuntimeError("Event
// loop is closed") before it touches a file descriptor (asyncio's _check_closed). The
// coroutines are driven by a second, open loop; the fds they are given are blocking where a
// system call on them would block the thread (bounded by SO_RCVTIMEO so a regression fails
// instead of hanging).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "dns/resolver.h"
#include "gtest/gtest.h"
#include "loop/run_in_executor.h"
#include "net/net.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using testing::error_message;

constexpr const char* kClosed = "Event loop is closed";

void bound_blocking_calls(Socket& sock) {
  sock.setblocking(true);
  timeval two_seconds{2, 0};
  ::setsockopt(sock.fileno(), SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof two_seconds);
  ::setsockopt(sock.fileno(), SOL_SOCKET, SO_SNDTIMEO, &two_seconds, sizeof two_seconds);
}

class ClosedLoopTest : public ::testing::Test {
 protected:
  ClosedLoopTest() { closed.close(); }

  template <class T>
  std::string outcome(Coro<T> coro) {
    return error_message([&] { runner.run_until_complete(std::move(coro)); });
  }

  EventLoop runner;
  EventLoop closed;
  ProtocolFactory factory = [] { return std::make_shared<Protocol>(); };
};

TEST_F(ClosedLoopTest, SockOperationsNeverReachTheSocket) {
  Socket listener = Socket::create(AF_INET, SOCK_STREAM);
  listener.bind(SocketAddress::ipv4("127.0.0.1", 0));
  listener.listen(8);
  SocketAddress address = listener.getsockname();
  bound_blocking_calls(listener);
  // A client waits in the backlog: an accept(2) would take it.
  Socket client = Socket::create(AF_INET, SOCK_STREAM);
  client.setblocking(true);
  ASSERT_EQ(::connect(client.fileno(), address.data(), address.size()), 0);
  EXPECT_EQ(outcome(sock_accept(closed, listener)), kClosed);
  listener.setblocking(false);
  Socket accepted(::accept4(listener.fileno(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted.is_open()) << "the waiting connection was not taken";

  bound_blocking_calls(client);
  std::byte buffer[16];
  EXPECT_EQ(outcome(sock_recv_into(closed, client, buffer)), kClosed);
  EXPECT_EQ(outcome(sock_recv(closed, client, 16)), kClosed);
  EXPECT_EQ(outcome(sock_sendall(closed, client, "not sent")), kClosed);
  accepted.setblocking(false);
  EXPECT_EQ(testing::read_some(accepted.fileno()), "") << "nothing was sent";

  Socket fresh = Socket::create(AF_INET, SOCK_STREAM);
  EXPECT_EQ(outcome(sock_connect(closed, fresh, address)), kClosed);
  EXPECT_EQ(outcome(sock_connect(closed, fresh, "127.0.0.1", address.port())), kClosed);
  EXPECT_THROW(fresh.getpeername(), OSError) << "never connected";

  File file = File::open("/proc/self/exe", O_RDONLY);
  EXPECT_EQ(outcome(sock_sendfile(closed, client, file)), kClosed);
  EXPECT_EQ(file.tell(), 0);
}

TEST_F(ClosedLoopTest, ConnectionsAndServersAreRefusedFirst) {
  Socket listener = Socket::create(AF_INET, SOCK_STREAM);
  listener.bind(SocketAddress::ipv4("127.0.0.1", 0));
  listener.listen(8);
  std::uint16_t port = listener.getsockname().port();
  EXPECT_EQ(outcome(create_connection(closed, factory, "127.0.0.1", port)), kClosed);
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = std::to_string(port);
  EXPECT_EQ(outcome(create_connection(closed, factory, std::move(options))), kClosed);
  listener.setblocking(false);
  EXPECT_LT(::accept4(listener.fileno(), nullptr, nullptr, SOCK_CLOEXEC), 0)
      << "no connection was made";

  auto [mine, theirs] = Socket::pair();
  EXPECT_EQ(outcome(connect_accepted_socket(closed, factory, std::move(mine))), kClosed);
  EXPECT_EQ(outcome(create_server(closed, factory, "127.0.0.1", 0)), kClosed);

  // A stale socket file stays where it is: create_unix_server did not get as far as removing it.
  std::string path = "/tmp/aio-closed-loop-" + std::to_string(::getpid());
  {
    Socket stale = Socket::create(AF_UNIX, SOCK_STREAM);
    stale.bind(SocketAddress::unix_path(path));
  }
  EXPECT_EQ(outcome(create_unix_server(closed, factory, path)), kClosed);
  struct stat info{};
  EXPECT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(outcome(create_unix_connection(closed, factory, path)), kClosed);
  ::unlink(path.c_str());

  DatagramOptions datagram;
  datagram.local_addr = {{"127.0.0.1", "0"}};
  EXPECT_EQ(outcome(create_datagram_endpoint(closed, factory, std::move(datagram))), kClosed);
}

TEST_F(ClosedLoopTest, PipesAreLeftAsTheyWere) {
  auto [reader, writer] = File::pipe();
  int flags = ::fcntl(reader.fileno(), F_GETFL);
  EXPECT_EQ(outcome(connect_read_pipe(closed, factory, reader)), kClosed);
  EXPECT_EQ(outcome(connect_write_pipe(closed, factory, writer)), kClosed);
  EXPECT_TRUE(reader.is_open());
  EXPECT_TRUE(writer.is_open());
  EXPECT_EQ(::fcntl(reader.fileno(), F_GETFL), flags) << "still blocking";
}

TEST_F(ClosedLoopTest, NameLookups) {
  EXPECT_EQ(error_message([&] { (void)dns::getaddrinfo(closed, "localhost", "80"); }), kClosed);
  EXPECT_EQ(error_message([&] { (void)dns::getnameinfo(closed, "127.0.0.1", 80); }), kClosed);
  SocketAddress address = SocketAddress::ipv4("127.0.0.1", 80);
  EXPECT_EQ(error_message([&] { (void)dns::getnameinfo(closed, address.data(), address.size()); }),
            kClosed);
}

TEST_F(ClosedLoopTest, LoopMethods) {
  EXPECT_EQ(error_message([&] { closed.call_soon([] {}); }), kClosed);
  EXPECT_EQ(error_message([&] { closed.call_later(1, [] {}); }), kClosed);
  EXPECT_EQ(error_message([&] { closed.call_at(1, [] {}); }), kClosed);
  EXPECT_EQ(error_message([&] { closed.call_soon_threadsafe([] {}); }), kClosed);
  auto [reader, writer] = File::pipe();
  EXPECT_EQ(error_message([&] { closed.add_reader(reader.fileno(), [] {}); }), kClosed);
  EXPECT_EQ(error_message([&] { closed.add_writer(writer.fileno(), [] {}); }), kClosed);
  EXPECT_EQ(error_message([&] { closed.run_in_executor(nullptr, [] { return 1; }); }), kClosed);
  EXPECT_EQ(error_message([&] { closed.create_task([]() -> Coro<void> { co_return; }()); }),
            kClosed);
  EXPECT_EQ(error_message([&] { closed.run_forever(); }), kClosed);
}

}  // namespace
}  // namespace aio
