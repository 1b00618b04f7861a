// The socket objects aio hands out and takes: get_extra_info("socket") and Server::sockets()
// follow the real fd (fileno() -1 once aio closed it, as asyncio's TransportSocket), and a
// closed socket passed as sock= is OSError(EBADF), not "no sock".
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "net/net.h"
#include "testing/loop_test_util.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using testing::error_message;
using testing::RecordingFactory;
using testing::RecordingProtocol;
using testing::run_until;

std::shared_ptr<Socket> socket_of(const BaseTransport& transport) {
  return std::any_cast<std::shared_ptr<Socket>>(transport.get_extra_info("socket"));
}

TEST(SocketViewTest, TransportSocketFollowsTheTransport) {
  EventLoop loop;
  auto [mine, theirs] = Socket::pair();
  int fd = mine.fileno();
  auto protocol = std::make_shared<RecordingProtocol>();
  auto transport = SocketTransport::create(loop, std::move(mine), protocol);
  run_until(loop, [&] { return protocol->state() == RecordingProtocol::State::kConnected; });
  std::shared_ptr<Socket> view = socket_of(*transport);
  EXPECT_EQ(view->fileno(), fd);
  EXPECT_EQ(view->type(), SOCK_STREAM);
  EXPECT_THROW(view->close(), RuntimeError) << "a view cannot close the transport's socket";
  transport->close();
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_EQ(view->fileno(), -1) << "never the stale number the next open() may reuse";
  EXPECT_FALSE(view->is_open());
  EXPECT_EQ(view->repr(), "<socket.socket [closed]>");
  // The number is reused at once; the view does not reach the new file.
  File reused = File::open("/dev/null", O_RDONLY);
  EXPECT_EQ(reused.fileno(), fd);
  EXPECT_THROW(view->getsockname(), OSError);
}

TEST(SocketViewTest, DatagramTransportSocketFollowsItToo) {
  EventLoop loop;
  auto [mine, theirs] = Socket::pair(AF_UNIX, SOCK_DGRAM);
  auto transport =
      DatagramSocketTransport::create(loop, std::move(mine), std::make_shared<DatagramProtocol>());
  loop.run_until_complete(sleep(0));
  std::shared_ptr<Socket> view = socket_of(*transport);
  EXPECT_TRUE(view->is_open());
  transport->abort();
  loop.run_until_complete(sleep(0));
  EXPECT_EQ(view->fileno(), -1);
}

TEST(SocketViewTest, ServerSocketsGoToMinusOneWhenTheServerCloses) {
  EventLoop loop;
  RecordingFactory<> factory;
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  std::vector<Socket> views = server->sockets();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_GE(views[0].fileno(), 0);
  server->close();
  EXPECT_EQ(views[0].fileno(), -1);
  EXPECT_TRUE(server->sockets().empty());
}

TEST(SocketViewTest, TheLoopClosingATransportAlsoEndsItsView) {
  auto loop = std::make_unique<EventLoop>();
  auto [mine, theirs] = Socket::pair();
  auto protocol = std::make_shared<RecordingProtocol>();
  auto transport = SocketTransport::create(*loop, std::move(mine), protocol);
  loop->run_until_complete(sleep(0));
  std::shared_ptr<Socket> view = socket_of(*transport);
  testing::LogCapture logs;  // "unclosed transport ... closed with its loop"
  loop->close();
  EXPECT_EQ(view->fileno(), -1);
}

TEST(SocketViewTest, AClosedSocketArgumentIsBadFileDescriptor) {
  EventLoop loop;
  ProtocolFactory factory = [] { return std::make_shared<Protocol>(); };
  auto closed_stream = [] {
    Socket sock = Socket::create(AF_INET, SOCK_STREAM);
    sock.close();
    return sock;
  };
  auto expect_ebadf = [&](auto coro, const char* what) {
    try {
      loop.run_until_complete(std::move(coro));
      ADD_FAILURE() << what << ": no error";
    } catch (const OSError& e) {
      EXPECT_EQ(e.err(), EBADF) << what << ": " << e.what();
      EXPECT_EQ(std::string(e.what()), "[Errno 9] Bad file descriptor") << what;
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": " << e.what();
    }
  };
  ConnectionOptions connection;
  connection.sock = closed_stream();
  expect_ebadf(create_connection(loop, factory, std::move(connection)), "create_connection");
  expect_ebadf(connect_accepted_socket(loop, factory, closed_stream()), "connect_accepted_socket");
  expect_ebadf(create_unix_connection(loop, factory, std::nullopt, closed_stream()),
               "create_unix_connection");
  ServerOptions server;
  server.sock = closed_stream();
  expect_ebadf(create_server(loop, factory, std::move(server)), "create_server");
  expect_ebadf(create_unix_server(loop, factory, std::nullopt, closed_stream()),
               "create_unix_server");
  DatagramOptions datagram;
  datagram.sock = closed_stream();
  expect_ebadf(create_datagram_endpoint(loop, factory, std::move(datagram)),
               "create_datagram_endpoint");
  // No socket at all stays asyncio's ValueError.
  EXPECT_EQ(error_message([&] {
              loop.run_until_complete(create_connection(loop, factory, ConnectionOptions{}));
            }),
            "host and port was not specified and no sock specified");
  EXPECT_EQ(error_message(
                [&] { loop.run_until_complete(connect_accepted_socket(loop, factory, Socket())); }),
            "no sock was specified");
  // A closed socket with host/port is "both given", as in asyncio (sock is not None).
  ConnectionOptions both;
  both.host = "127.0.0.1";
  both.port = "1";
  both.sock = closed_stream();
  EXPECT_EQ(error_message([&] {
              loop.run_until_complete(create_connection(loop, factory, std::move(both)));
            }),
            "host/port and sock can not be specified at the same time");
}

}  // namespace
}  // namespace aio
