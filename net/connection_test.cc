// create_connection, create_unix_connection and connect_accepted_socket, as asyncio 3.11's
// base_events.py and unix_events.py behave: against raw listening sockets, names with several
// addresses served by a real dnsmasq, and a real python3 asyncio peer. Every failed socket must be
// closed (fd counts mid-test, and the fd-leak check after each test).
#include "net/connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <any>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "dns/resolver.h"
#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "loop/locks.h"
#include "net/sock_ops.h"
#include "testing/dnsmasq.h"
#include "testing/fd_count.h"
#include "testing/loop_test_util.h"
#include "testing/peer_process.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::open_fd_count;
using ::aio::testing::RecordingFactory;
using ::aio::testing::RecordingProtocol;

// --- Helpers -------------------------------------------------------------------------------------

template <class T>
T run(EventLoop& loop, Coro<T> coro, double timeout = 10) {
  return loop.run_until_complete(aio::wait_for(std::move(coro), timeout));
}

SocketAddress ip_address(const std::string& host, std::uint16_t port) {
  return host.find(':') == std::string::npos ? SocketAddress::ipv4(host, port)
                                             : SocketAddress::ipv6(host, port);
}

// A TCP socket bound to (host, port): listening, or not (then it refuses connections and keeps
// its port from being taken).
Socket bound_socket(const std::string& host, std::uint16_t port, bool listening, int backlog = 16) {
  SocketAddress address = ip_address(host, port);
  Socket sock = Socket::create(address.family(), SOCK_STREAM);
  sock.bind(address);
  if (listening) sock.listen(backlog);
  return sock;
}

bool wait_readable(int fd, int timeout_ms = 5000) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, timeout_ms) == 1;
}

// The next connection queued on `listener` (waits up to 5 s for it).
Socket accept_one(Socket& listener) {
  if (!wait_readable(listener.fileno())) {
    ADD_FAILURE() << "no connection to accept on " << listener.repr();
    return Socket();
  }
  int fd = ::accept4(listener.fileno(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  return Socket(fd);
}

// A listener whose accept queue is full: the kernel drops new SYNs, so a connection to it stays
// in progress (until its SYN retries give up, far longer than any test).
struct FullListener {
  explicit FullListener(const std::string& host, std::uint16_t port = 0) {
    listener = bound_socket(host, port, /*listening=*/true, /*backlog=*/0);
    filler = Socket::create(listener.family(), SOCK_STREAM);
    filler.setblocking(true);
    SocketAddress address = listener.getsockname();
    EXPECT_EQ(::connect(filler.fileno(), address.data(), address.size()), 0);
    EXPECT_TRUE(wait_readable(listener.fileno())) << "the filler connection is not queued";
  }
  std::uint16_t port() const { return listener.getsockname().port(); }
  Socket listener;
  Socket filler;
};

SocketAddress peername(const TransportRef& transport) {
  return std::any_cast<SocketAddress>(transport->get_extra_info("peername"));
}
SocketAddress sockname(const TransportRef& transport) {
  return std::any_cast<SocketAddress>(transport->get_extra_info("sockname"));
}

// Closes the transport and runs the loop until its protocol has seen connection_lost.
void close_and_wait(EventLoop& loop, const TransportRef& transport, RecordingProtocol& protocol) {
  transport->close();
  auto body = [&]() -> Coro<void> {
    while (!protocol.lost()) co_await aio::sleep(0);
  };
  run(loop, body());
}

std::string refused(const std::string& host, std::uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return "[Errno 111] Connect call failed ('" + host + "', " + std::to_string(port) +
         (v6 ? ", 0, 0)" : ")");
}

// Replaces every occurrence of `from` in `text` by `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// A UDP socket bound on loopback that never answers: a DNS server that never replies.
struct SilentDnsServer {
  SilentDnsServer() {
    sock = Socket::create(AF_INET, SOCK_DGRAM);
    sock.bind(SocketAddress::ipv4("127.0.0.1", 0));
  }
  std::string csv() const { return "127.0.0.1:" + std::to_string(sock.getsockname().port()); }
  Socket sock;
};

// A fresh directory under /tmp (paths under $TEST_TMPDIR can exceed sun_path), removed with
// whatever UNIX socket files the test left in it.
struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/aio-conn-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern), nullptr);
    path = pattern;
  }
  ~TempDir() {
    for (const std::string& file : files) ::unlink(file.c_str());
    ::rmdir(path.c_str());
  }
  std::string file(const std::string& name) {
    files.push_back(path + "/" + name);
    return files.back();
  }
  std::string path;
  std::vector<std::string> files;
};

Socket unix_listener(const std::string& path, bool listening = true) {
  Socket sock = Socket::create(AF_UNIX, SOCK_STREAM);
  sock.bind(SocketAddress::unix_path(path));
  if (listening) sock.listen(16);
  return sock;
}

// --- A TCP connection ----------------------------------------------------------------------------

TEST(CreateConnectionTest, TransportWorksBothWaysWithAsyncioCallbackOrder) {
  EventLoop loop;
  Socket listener = bound_socket("127.0.0.1", 0, true);
  std::uint16_t port = listener.getsockname().port();
  RecordingFactory<> factory;
  Event lost;
  factory.setup = [&](RecordingProtocol& protocol) {
    protocol.on_lost = [&](std::exception_ptr) { lost.set(); };
  };
  Connection<> connection =
      run(loop, create_connection(loop, factory.factory(), "127.0.0.1", port));
  Socket peer = accept_one(listener);
  ASSERT_EQ(factory.made.size(), 1u);
  RecordingProtocol& protocol = *factory.made[0];
  EXPECT_EQ(connection.second.get(), &protocol);
  // connection_made has run when create_connection returns, with this very transport.
  EXPECT_EQ(protocol.trace(), "made");
  EXPECT_EQ(protocol.transport(), connection.first.get());

  EXPECT_EQ(peername(connection.first).to_string(), "('127.0.0.1', " + std::to_string(port) + ")");
  EXPECT_TRUE(sockname(connection.first) == peer.getpeername());
  EXPECT_EQ(sockname(connection.first).host(), "127.0.0.1");
  auto view = std::any_cast<std::shared_ptr<Socket>>(connection.first->get_extra_info("socket"));
  EXPECT_FALSE(view->owned());
  EXPECT_TRUE(view->getpeername() == peer.getsockname());
  EXPECT_FALSE(connection.first->get_extra_info("no-such-key").has_value());

  auto exchange = [&]() -> Coro<void> {
    connection.first->write("ping");
    std::string got;
    while (got.size() < 4) {
      std::string chunk = co_await sock_recv(loop, peer, 64);
      if (chunk.empty()) break;
      got += chunk;
    }
    EXPECT_EQ(got, "ping");
    co_await sock_sendall(loop, peer, "pong");
    peer.shutdown(SHUT_WR);
    co_await lost.wait();
    // The transport closed itself after eof_received returned false: the peer sees EOF.
    EXPECT_EQ(co_await sock_recv(loop, peer, 64), "");
  };
  run(loop, exchange());
  EXPECT_EQ(protocol.received, "pong");
  EXPECT_EQ(protocol.trace(), "made data eof lost");
  EXPECT_TRUE(connection.first->is_closing());
}

TEST(CreateConnectionTest, TypedFormReturnsTheFactorysProtocolType) {
  EventLoop loop;
  Socket listener = bound_socket("127.0.0.1", 0, true);
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = std::to_string(listener.getsockname().port());
  Connection<RecordingProtocol> connection = run(
      loop, create_connection<RecordingProtocol>(
                loop, [] { return std::make_shared<RecordingProtocol>(); }, std::move(options)));
  Socket peer = accept_one(listener);
  ASSERT_NE(connection.second, nullptr);
  EXPECT_EQ(connection.second->trace(), "made");
  EXPECT_EQ(connection.second->transport(), connection.first.get());
  close_and_wait(loop, connection.first, *connection.second);
  EXPECT_EQ(connection.second->trace(), "made lost");

  // The (host, port), UNIX and accepted-socket forms too.
  auto make = [] { return std::make_shared<RecordingProtocol>(); };
  Connection<RecordingProtocol> by_port = run(
      loop,
      create_connection<RecordingProtocol>(loop, make, "127.0.0.1", listener.getsockname().port()));
  Socket by_port_peer = accept_one(listener);
  EXPECT_EQ(by_port.second->trace(), "made");
  close_and_wait(loop, by_port.first, *by_port.second);
  auto [ours, theirs] = Socket::pair();
  Connection<RecordingProtocol> unix_connection = run(
      loop, create_unix_connection<RecordingProtocol>(loop, make, std::nullopt, std::move(ours)));
  EXPECT_EQ(unix_connection.second->trace(), "made");
  close_and_wait(loop, unix_connection.first, *unix_connection.second);
  auto [accepted_side, client_side] = Socket::pair();
  Connection<RecordingProtocol> accepted =
      run(loop, connect_accepted_socket<RecordingProtocol>(loop, make, std::move(accepted_side)));
  EXPECT_EQ(accepted.second->trace(), "made");
  close_and_wait(loop, accepted.first, *accepted.second);
  EXPECT_EQ(accepted.second->trace(), "made lost");
}

TEST(CreateConnectionTest, UnknownServiceNameIsAResolverError) {
  // "port" may be a service name; an unknown one fails in getaddrinfo (no DNS involved for a
  // numeric host), before any socket exists.
  EventLoop loop;
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = "no-such-service-here";
  RecordingFactory<> factory;
  try {
    run(loop, create_connection(loop, factory.factory(), std::move(options)));
    FAIL() << "no error";
  } catch (const dns::ResolverError& e) {
    EXPECT_EQ(e.eai_code(), EAI_SERVICE);
    EXPECT_STREQ(e.what(), gai_strerror(EAI_SERVICE));
  }
  EXPECT_TRUE(factory.made.empty());
}

// --- Argument validation -------------------------------------------------------------------------

TEST(CreateConnectionTest, ArgumentErrorsAreAsyncios) {
  EventLoop loop;
  RecordingFactory<> factory;
  auto attempt = [&](ConnectionOptions options) {
    return error_message(
        [&] { run(loop, create_connection(loop, factory.factory(), std::move(options))); });
  };
  {
    ConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = "80";
    options.sock = Socket::create(AF_INET, SOCK_STREAM);
    EXPECT_EQ(attempt(std::move(options)),
              "host/port and sock can not be specified at the same time");
  }
  {
    ConnectionOptions options;  // port alone counts too
    options.port = "80";
    options.sock = Socket::create(AF_INET, SOCK_STREAM);
    EXPECT_EQ(attempt(std::move(options)),
              "host/port and sock can not be specified at the same time");
  }
  EXPECT_EQ(attempt(ConnectionOptions{}), "host and port was not specified and no sock specified");
  {
    ConnectionOptions options;
    options.sock = Socket::create(AF_INET, SOCK_DGRAM);
    std::string repr = options.sock.repr();
    EXPECT_EQ(repr.rfind("<socket.socket fd=", 0), 0u) << repr;
    EXPECT_EQ(attempt(std::move(options)), "A Stream Socket was expected, got " + repr);
  }
  {
    ConnectionOptions options;
    options.sock = Socket::create(AF_INET, SOCK_DGRAM);
    EXPECT_THROW(run(loop, create_connection(loop, factory.factory(), std::move(options))),
                 ValueError);
  }
  EXPECT_TRUE(factory.made.empty());
}

TEST(CreateConnectionTest, ConnectedSockIsWrapped) {
  EventLoop loop;
  Socket listener = bound_socket("127.0.0.1", 0, true);
  ConnectionOptions options;
  options.sock = Socket::create(AF_INET, SOCK_STREAM);
  options.sock.setblocking(true);  // made non-blocking by create_connection, as asyncio
  SocketAddress address = listener.getsockname();
  ASSERT_EQ(::connect(options.sock.fileno(), address.data(), address.size()), 0);
  RecordingFactory<> factory;
  Connection<> connection =
      run(loop, create_connection(loop, factory.factory(), std::move(options)));
  Socket peer = accept_one(listener);
  EXPECT_TRUE(peername(connection.first) == address);
  auto view = std::any_cast<std::shared_ptr<Socket>>(connection.first->get_extra_info("socket"));
  EXPECT_FALSE(view->blocking());
  close_and_wait(loop, connection.first, *factory.made[0]);
  EXPECT_EQ(factory.made[0]->trace(), "made lost");
}

TEST(CreateConnectionTest, FactoryOfANonStreamProtocolIsATypeErrorAndClosesTheSocket) {
  EventLoop loop;
  Socket listener = bound_socket("127.0.0.1", 0, true);
  int before = open_fd_count();
  ProtocolFactory factory = [] { return std::make_shared<BaseProtocol>(); };
  EXPECT_EQ(error_message([&] {
              run(loop,
                  create_connection(loop, factory, "127.0.0.1", listener.getsockname().port()));
            }),
            "a stream transport needs a Protocol or a BufferedProtocol");
  EXPECT_EQ(open_fd_count(), before);
}

// --- Failures ------------------------------------------------------------------------------------

TEST(CreateConnectionTest, RefusedPortIsConnectionRefusedError) {
  EventLoop loop;
  Socket reserved = bound_socket("127.0.0.1", 0, /*listening=*/false);
  std::uint16_t port = reserved.getsockname().port();
  RecordingFactory<> factory;
  int before = open_fd_count();
  try {
    run(loop, create_connection(loop, factory.factory(), "127.0.0.1", port));
    FAIL() << "connected to a port nobody listens on";
  } catch (const ConnectionRefusedError& e) {
    EXPECT_EQ(e.err(), ECONNREFUSED);
    EXPECT_STREQ(e.what(), refused("127.0.0.1", port).c_str());
  }
  EXPECT_EQ(open_fd_count(), before);  // the failed socket is closed
  EXPECT_TRUE(factory.made.empty());
}

class DnsmasqConnectionTest : public ::testing::Test {
 protected:
  DnsmasqConnectionTest()
      : dnsmasq_({
            "--host-record=two.test,127.0.0.2",
            "--host-record=two.test,127.0.0.3",
            "--host-record=he.test,::1",
            "--host-record=he.test,127.0.0.2",
            "--host-record=he.test,127.0.0.3",
            "--host-record=il.test,::1",
            "--host-record=il.test,::ffff:127.0.0.4",
            "--host-record=il.test,127.0.0.2",
            "--host-record=il.test,127.0.0.3",
        }) {
    dns::Resolver::of(loop_, dns::ResolverOptions{.timeout_ms = 2000, .tries = 2})
        .set_servers(dnsmasq_.csv());
  }

  // The addresses `name` resolves to, as create_connection will see them (dnsmasq rotates
  // addresses of one family from answer to answer).
  std::string lookup(const std::string& name) {
    std::vector<dns::AddrInfo> entries =
        run(loop_, dns::getaddrinfo(loop_, name, "80", AF_UNSPEC, SOCK_STREAM));
    std::string text;
    for (const dns::AddrInfo& entry : entries) text += (text.empty() ? "" : " ") + entry.host();
    return text;
  }

  // A port free on every one of `hosts` (a first socket bound to port 0 picks it).
  std::uint16_t common_port(const std::vector<std::string>& hosts, std::vector<Socket>& held) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      held.clear();
      held.push_back(bound_socket(hosts[0], 0, false));
      std::uint16_t port = held[0].getsockname().port();
      bool all = true;
      for (std::size_t i = 1; i < hosts.size() && all; ++i) {
        try {
          held.push_back(bound_socket(hosts[i], port, false));
        } catch (const OSError&) {
          all = false;
        }
      }
      if (all) return port;
    }
    ADD_FAILURE() << "no common free port";
    return 0;
  }

  Connection<> connect(const std::string& host, std::uint16_t port,
                       std::optional<double> happy_eyeballs_delay = std::nullopt,
                       std::optional<int> interleave = std::nullopt) {
    ConnectionOptions options;
    options.host = host;
    options.port = std::to_string(port);
    options.happy_eyeballs_delay = happy_eyeballs_delay;
    options.interleave = interleave;
    return run(loop_, create_connection(loop_, factory_.factory(), std::move(options)));
  }

  EventLoop loop_;
  testing::Dnsmasq dnsmasq_;
  RecordingFactory<> factory_;
};

TEST_F(DnsmasqConnectionTest, EveryAddressRefusedListsEachError) {
  std::vector<Socket> held;  // bound, not listening: both addresses refuse
  std::uint16_t port = common_port({"127.0.0.2", "127.0.0.3"}, held);
  std::string two = refused("127.0.0.2", port), three = refused("127.0.0.3", port);
  for (int i = 0; i < 2; ++i) {  // dnsmasq alternates the order: see both
    try {
      connect("two.test", port);
      FAIL() << "connected although every address refuses";
    } catch (const ConnectionRefusedError& e) {
      FAIL() << "one error only: " << e.what();
    } catch (const OSError& e) {
      std::string message = e.what();
      EXPECT_TRUE(message == "Multiple exceptions: " + two + ", " + three ||
                  message == "Multiple exceptions: " + three + ", " + two)
          << message;
      EXPECT_EQ(e.err(), 0);  // Python's OSError(text): no errno
    }
  }
  EXPECT_TRUE(factory_.made.empty());
}

TEST_F(DnsmasqConnectionTest, FirstAddressRefusedSecondListeningConnectsToTheSecond) {
  std::vector<Socket> held;
  std::uint16_t port = common_port({"127.0.0.2", "127.0.0.3"}, held);
  held[1].listen(16);  // 127.0.0.3 listens, 127.0.0.2 refuses
  lookup("two.test");  // the resolver's sockets are open from here on
  int before = open_fd_count();
  // dnsmasq alternates the order of the two addresses: in half of the attempts the refused one
  // comes first.
  for (int i = 0; i < 4; ++i) {
    Connection<> connection = connect("two.test", port);
    EXPECT_EQ(peername(connection.first).to_string(),
              "('127.0.0.3', " + std::to_string(port) + ")");
    Socket peer = accept_one(held[1]);
    EXPECT_EQ(open_fd_count(), before + 2);  // the transport's socket and the peer: no other
    close_and_wait(loop_, connection.first, *factory_.made.back());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST_F(DnsmasqConnectionTest, HappyEyeballsSkipsFailingAddresses) {
  std::vector<Socket> held;  // ::1 and 127.0.0.2 refuse, 127.0.0.3 listens
  std::uint16_t port = common_port({"::1", "127.0.0.2", "127.0.0.3"}, held);
  held[2].listen(16);
  lookup("he.test");
  int before = open_fd_count();
  for (double delay : {0.0, 0.05, 1.0}) {
    for (int i = 0; i < 2; ++i) {
      Connection<> connection = connect("he.test", port, delay);
      EXPECT_EQ(peername(connection.first).host(), "127.0.0.3");
      Socket peer = accept_one(held[2]);
      EXPECT_EQ(open_fd_count(), before + 2) << "delay " << delay;
      close_and_wait(loop_, connection.first, *factory_.made.back());
    }
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST_F(DnsmasqConnectionTest, HappyEyeballsEveryAddressRefused) {
  std::vector<Socket> held;
  std::uint16_t port = common_port({"::1", "127.0.0.2", "127.0.0.3"}, held);
  lookup("he.test");
  int before = open_fd_count();
  try {
    connect("he.test", port, 0.05);
    FAIL() << "connected although every address refuses";
  } catch (const OSError& e) {
    // Errors in the order the attempts started (interleaved, ::1 first), whatever order they
    // ended in.
    EXPECT_EQ(replace_all(e.what(), "127.0.0.3", "127.0.0.2"),
              "Multiple exceptions: " + refused("::1", port) + ", " + refused("127.0.0.2", port) +
                  ", " + refused("127.0.0.2", port));
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST_F(DnsmasqConnectionTest, HappyEyeballsStartsTheNextAddressAfterTheDelay) {
  // ::1 never answers (its listener's accept queue is full); both IPv4 addresses listen.
  std::vector<Socket> held;
  std::uint16_t port = common_port({"127.0.0.2", "127.0.0.3"}, held);
  FullListener hanging("::1", port);
  held[0].listen(16);
  held[1].listen(16);
  ASSERT_EQ(lookup("he.test").substr(0, 3), "::1");
  int before = open_fd_count();
  ConnectionOptions options;
  options.host = "he.test";
  options.port = std::to_string(port);
  options.happy_eyeballs_delay = 0.1;
  Connection<> connection;
  int fds_on_return = 0;
  double start = loop_.time(), elapsed = 0;
  auto body = [&]() -> Coro<void> {
    connection = co_await create_connection(loop_, factory_.factory(), std::move(options));
    // Counted in the same step that create_connection returned in: by then the attempt on ::1
    // has been cancelled and has closed its socket.
    fds_on_return = open_fd_count();
    elapsed = loop_.time() - start;
  };
  run(loop_, body());
  EXPECT_EQ(fds_on_return, before + 1);  // the transport's socket only
  EXPECT_EQ(peername(connection.first).family(), AF_INET);
  EXPECT_GE(elapsed, 0.09);
  EXPECT_LT(elapsed, 5.0);
  close_and_wait(loop_, connection.first, *factory_.made.back());
  EXPECT_EQ(open_fd_count(), before);
}

TEST_F(DnsmasqConnectionTest, HappyEyeballsErrorsAreInTheOrderTheAttemptsStarted) {
  // ::1 starts first but fails last: its listener's accept queue is full until the listener
  // closes, and then the next SYN retry (about a second later) is refused. The two IPv4
  // addresses refuse at once.
  std::vector<Socket> held;
  std::uint16_t port = common_port({"127.0.0.2", "127.0.0.3"}, held);
  FullListener hanging("::1", port);
  lookup("he.test");
  loop_.call_later(0.2, [&] { hanging.listener.close(); });
  std::string message = error_message([&] { connect("he.test", port, 0.05); });
  EXPECT_EQ(replace_all(message, "127.0.0.3", "127.0.0.2"),
            "Multiple exceptions: " + refused("::1", port) + ", " + refused("127.0.0.2", port) +
                ", " + refused("127.0.0.2", port));
}

TEST_F(DnsmasqConnectionTest, AttemptsFollowTheInterleavedOrder) {
  // il.test resolves as ::1, two IPv4 addresses (in either order), then ::ffff:127.0.0.4.
  std::string order = replace_all(lookup("il.test"), "127.0.0.3", "127.0.0.2");
  ASSERT_EQ(order, "::1 127.0.0.2 127.0.0.2 ::ffff:127.0.0.4");
  std::vector<Socket> held;
  std::uint16_t port = common_port({"::1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}, held);
  std::string v6 = refused("::1", port), v4 = refused("127.0.0.2", port),
              mapped = refused("::ffff:127.0.0.4", port);
  auto attempts = [&](std::optional<double> delay, std::optional<int> interleave) {
    std::string message = error_message([&] { connect("il.test", port, delay, interleave); });
    return replace_all(message, "127.0.0.3", "127.0.0.2");
  };
  std::string prefix = "Multiple exceptions: ";
  EXPECT_EQ(attempts(std::nullopt, std::nullopt),
            prefix + v6 + ", " + v4 + ", " + v4 + ", " + mapped);
  EXPECT_EQ(attempts(std::nullopt, 1), prefix + v6 + ", " + v4 + ", " + mapped + ", " + v4);
  EXPECT_EQ(attempts(std::nullopt, 2), prefix + v6 + ", " + mapped + ", " + v4 + ", " + v4);
  // Happy Eyeballs interleaves one address of each family by default.
  EXPECT_EQ(attempts(0.05, std::nullopt), prefix + v6 + ", " + v4 + ", " + mapped + ", " + v4);

  // Now every IPv4 address listens (::ffff:127.0.0.4 reaches the listener on 127.0.0.4) and
  // only ::1 refuses: the second attempt is the one that connects.
  held[1].listen(16);
  held[2].listen(16);
  held[3].listen(16);
  auto connected_to = [&](std::optional<int> interleave) {
    Connection<> connection = connect("il.test", port, std::nullopt, interleave);
    SocketAddress peer = peername(connection.first);
    for (std::size_t i = 1; i < held.size(); ++i) {
      pollfd entry{held[i].fileno(), POLLIN, 0};
      if (::poll(&entry, 1, 0) == 1) {
        Socket accepted = accept_one(held[i]);
      }
    }
    close_and_wait(loop_, connection.first, *factory_.made.back());
    return replace_all(peer.host(), "127.0.0.3", "127.0.0.2");
  };
  EXPECT_EQ(connected_to(std::nullopt), "127.0.0.2");
  EXPECT_EQ(connected_to(1), "127.0.0.2");
  EXPECT_EQ(connected_to(2), "::ffff:127.0.0.4");
}

// --- local_addr ----------------------------------------------------------------------------------

TEST(CreateConnectionTest, LocalAddrIsWhatTheServerSees) {
  EventLoop loop;
  Socket listener = bound_socket("127.0.0.1", 0, true);
  std::uint16_t port = listener.getsockname().port();
  RecordingFactory<> factory;
  {
    ConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = std::to_string(port);
    options.local_addr = {"127.0.0.2", "0"};
    Connection<> connection =
        run(loop, create_connection(loop, factory.factory(), std::move(options)));
    Socket peer = accept_one(listener);
    SocketAddress seen = peer.getpeername();
    EXPECT_EQ(seen.host(), "127.0.0.2");
    EXPECT_TRUE(seen == sockname(connection.first));
    close_and_wait(loop, connection.first, *factory.made.back());
  }
  {
    // A fixed local port: reserve one, release it, bind to it through local_addr.
    std::uint16_t local_port;
    {
      Socket probe = bound_socket("127.0.0.1", 0, false);
      local_port = probe.getsockname().port();
    }
    ConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = std::to_string(port);
    options.local_addr = {"127.0.0.1", std::to_string(local_port)};
    Connection<> connection =
        run(loop, create_connection(loop, factory.factory(), std::move(options)));
    Socket peer = accept_one(listener);
    EXPECT_EQ(peer.getpeername().to_string(), "('127.0.0.1', " + std::to_string(local_port) + ")");
    close_and_wait(loop, connection.first, *factory.made.back());
  }
}

TEST(CreateConnectionTest, LocalAddrThatCannotBindIsReportedAsAsyncio) {
  EventLoop loop;
  Socket listener = bound_socket("127.0.0.1", 0, true);
  std::string port = std::to_string(listener.getsockname().port());
  Socket taken = bound_socket("127.0.0.1", 0, false);
  std::uint16_t taken_port = taken.getsockname().port();
  RecordingFactory<> factory;
  int before = open_fd_count();
  auto attempt = [&](const std::string& host, std::pair<std::string, std::string> local) {
    ConnectionOptions options;
    options.host = host;
    options.port = port;
    options.local_addr = std::move(local);
    try {
      run(loop, create_connection(loop, factory.factory(), std::move(options)));
    } catch (const OSError& e) {
      return std::to_string(e.err()) + " " + e.what();
    }
    return std::string("connected");
  };
  EXPECT_EQ(attempt("127.0.0.1", {"127.0.0.1", std::to_string(taken_port)}),
            "98 [Errno 98] error while attempting to bind on address ('127.0.0.1', " +
                std::to_string(taken_port) + "): address already in use");
  // 192.0.2.1 (TEST-NET-1) is no address of this machine; nothing is sent anywhere.
  EXPECT_EQ(attempt("127.0.0.1", {"192.0.2.1", "0"}),
            "99 [Errno 99] error while attempting to bind on address ('192.0.2.1', 0): "
            "cannot assign requested address");
  // No local address of the remote address's family.
  EXPECT_EQ(attempt("::1", {"127.0.0.1", "0"}),
            "0 no matching local address with family=<AddressFamily.AF_INET6: 10> found");
  EXPECT_EQ(open_fd_count(), before);
  EXPECT_TRUE(factory.made.empty());
}

// --- Cancellation and timeouts -------------------------------------------------------------------

// On a virtual clock: the kernel never completes the connection within the timeout (its first
// SYN retry is a real second away), so the timeout fires at exactly its virtual instant.
TEST(CreateConnectionTest, TimeoutWhileConnectingClosesTheSocket) {
  EventLoop loop(testing::virtual_time());
  FullListener hanging("127.0.0.1");
  RecordingFactory<> factory;
  dns::Resolver::of(loop);  // made now, so that its own descriptors are not counted below
  int before = open_fd_count();
  for (std::optional<double> delay : {std::optional<double>(), std::optional<double>(0.05)}) {
    ConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = std::to_string(hanging.port());
    options.happy_eyeballs_delay = delay;
    double start = loop.time();
    EXPECT_THROW(run(loop, create_connection(loop, factory.factory(), std::move(options)), 0.2),
                 TimeoutError);
    EXPECT_DOUBLE_EQ(loop.time() - start, 0.2) << "happy eyeballs: " << delay.has_value();
    EXPECT_EQ(open_fd_count(), before) << "happy eyeballs: " << delay.has_value();
  }
  EXPECT_TRUE(factory.made.empty());
}

TEST_F(DnsmasqConnectionTest, CancellingHappyEyeballsClosesEveryAttempt) {
  std::vector<Socket> held;
  std::uint16_t port = common_port({"127.0.0.2", "127.0.0.3"}, held);
  held.clear();
  FullListener v6("::1", port), a("127.0.0.2", port), b("127.0.0.3", port);
  lookup("he.test");
  int before = open_fd_count();
  ConnectionOptions options;
  options.host = "he.test";
  options.port = std::to_string(port);
  options.happy_eyeballs_delay = 0.02;  // all three attempts are under way after 40 ms
  int fds_on_cancel = -1;
  auto body = [&]() -> Coro<void> {
    try {
      co_await create_connection(loop_, factory_.factory(), std::move(options));
    } catch (const CancelledError&) {
      // Counted in the step the cancellation arrived in: every attempt is already closed.
      fds_on_cancel = open_fd_count();
      throw;
    }
  };
  Task<void> task = loop_.create_task(body());
  loop_.call_later(0.3, [&] { task.cancel(); });
  EXPECT_THROW(loop_.run_until_complete(task), CancelledError);
  EXPECT_EQ(fds_on_cancel, before);
  EXPECT_EQ(open_fd_count(), before);
  EXPECT_TRUE(factory_.made.empty());
}

TEST(CreateConnectionTest, CancelWhileResolvingLeavesNothingBehind) {
  EventLoop loop;
  SilentDnsServer silent;
  dns::Resolver::of(loop, dns::ResolverOptions{.timeout_ms = 5000, .tries = 1})
      .set_servers(silent.csv());
  RecordingFactory<> factory;
  double start = loop.time();
  EXPECT_THROW(run(loop, create_connection(loop, factory.factory(), "never.test", 80), 0.2),
               TimeoutError);
  EXPECT_LT(loop.time() - start, 4.0);
  Task<Connection<>> task =
      loop.create_task(create_connection(loop, factory.factory(), "never.test", 80));
  loop.call_later(0.1, [&] { task.cancel(); });
  EXPECT_THROW(loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(factory.made.empty());
}

TEST(CreateConnectionTest, CancelledAfterConnectionMadeClosesTheTransport) {
  // Cancelled between connection_made and the end of create_connection: the transport is
  // closed (asyncio's _create_connection_transport), the protocol sees connection_lost.
  EventLoop loop;
  Socket listener = bound_socket("127.0.0.1", 0, true);
  RecordingFactory<> factory;
  Task<Connection<>> task;
  factory.setup = [&](RecordingProtocol& protocol) {
    protocol.on_made = [&](Transport&) { task.cancel(); };
  };
  task = loop.create_task(
      create_connection(loop, factory.factory(), "127.0.0.1", listener.getsockname().port()));
  EXPECT_THROW(loop.run_until_complete(task), CancelledError);
  ASSERT_EQ(factory.made.size(), 1u);
  auto settle = [&]() -> Coro<void> {
    while (!factory.made[0]->lost()) co_await aio::sleep(0);
  };
  run(loop, settle());
  EXPECT_EQ(factory.made[0]->trace(), "made lost");
  Socket peer = accept_one(listener);
  EXPECT_TRUE(wait_readable(peer.fileno()));
  char byte;
  EXPECT_EQ(::recv(peer.fileno(), &byte, 1, 0), 0);  // EOF: the transport's socket is closed
}

// --- UNIX connections ----------------------------------------------------------------------------

TEST(CreateUnixConnectionTest, ConnectsToAPathBothWays) {
  EventLoop loop;
  TempDir dir;
  std::string path = dir.file("server.sock");
  Socket listener = unix_listener(path);
  RecordingFactory<> factory;
  Event lost;
  factory.setup = [&](RecordingProtocol& protocol) {
    protocol.on_lost = [&](std::exception_ptr) { lost.set(); };
  };
  Connection<> connection = run(loop, create_unix_connection(loop, factory.factory(), path));
  Socket peer = accept_one(listener);
  RecordingProtocol& protocol = *factory.made.at(0);
  EXPECT_EQ(protocol.trace(), "made");
  EXPECT_EQ(peername(connection.first).to_string(), "'" + path + "'");
  EXPECT_EQ(sockname(connection.first).to_string(), "''");
  auto exchange = [&]() -> Coro<void> {
    connection.first->write("over unix");
    std::string got;
    while (got.size() < 9) {
      std::string chunk = co_await sock_recv(loop, peer, 64);
      if (chunk.empty()) break;
      got += chunk;
    }
    EXPECT_EQ(got, "over unix");
    co_await sock_sendall(loop, peer, "back");
    peer.close();
    co_await lost.wait();
  };
  run(loop, exchange());
  EXPECT_EQ(protocol.received, "back");
  EXPECT_EQ(protocol.trace(), "made data eof lost");
}

TEST(CreateUnixConnectionTest, FailuresAndArgumentErrors) {
  EventLoop loop;
  TempDir dir;
  RecordingFactory<> factory;
  int before = open_fd_count();
  auto attempt = [&](std::optional<std::string> path, Socket sock) {
    return error_message([&] {
      run(loop, create_unix_connection(loop, factory.factory(), std::move(path), std::move(sock)));
    });
  };
  EXPECT_EQ(attempt(dir.path + "/missing.sock", Socket()), "[Errno 2] No such file or directory");
  EXPECT_THROW(
      run(loop, create_unix_connection(loop, factory.factory(), dir.path + "/missing.sock")),
      FileNotFoundError);
  {
    std::string stale = dir.file("stale.sock");
    Socket bound = unix_listener(stale, /*listening=*/false);
    EXPECT_THROW(run(loop, create_unix_connection(loop, factory.factory(), stale)),
                 ConnectionRefusedError);
    EXPECT_EQ(attempt(stale, Socket()), "[Errno 111] Connection refused");
  }
  EXPECT_EQ(open_fd_count(), before);
  EXPECT_EQ(attempt(dir.path + "/x.sock", Socket::create(AF_UNIX, SOCK_STREAM)),
            "path and sock can not be specified at the same time");
  EXPECT_EQ(attempt(std::nullopt, Socket()), "no path and sock were specified");
  {
    Socket tcp = Socket::create(AF_INET, SOCK_STREAM);
    std::string repr = tcp.repr();
    EXPECT_EQ(attempt(std::nullopt, std::move(tcp)),
              "A UNIX Domain Stream Socket was expected, got " + repr);
  }
  {
    Socket datagram = Socket::create(AF_UNIX, SOCK_DGRAM);
    std::string repr = datagram.repr();
    EXPECT_EQ(attempt(std::nullopt, std::move(datagram)),
              "A UNIX Domain Stream Socket was expected, got " + repr);
  }
  EXPECT_EQ(open_fd_count(), before);
  EXPECT_TRUE(factory.made.empty());
}

TEST(CreateUnixConnectionTest, WrapsAConnectedSock) {
  EventLoop loop;
  auto [ours, theirs] = Socket::pair();
  RecordingFactory<> factory;
  Connection<> connection =
      run(loop, create_unix_connection(loop, factory.factory(), std::nullopt, std::move(ours)));
  RecordingProtocol& protocol = *factory.made.at(0);
  auto exchange = [&]() -> Coro<void> {
    co_await sock_sendall(loop, theirs, "hello");
    while (protocol.received.size() < 5) co_await aio::sleep(0);
    connection.first->write_eof();
    EXPECT_EQ(co_await sock_recv(loop, theirs, 64), "");
  };
  run(loop, exchange());
  EXPECT_EQ(protocol.received, "hello");
  close_and_wait(loop, connection.first, protocol);
  EXPECT_EQ(protocol.trace(), "made data lost");
}

// --- connect_accepted_socket ---------------------------------------------------------------------

TEST(ConnectAcceptedSocketTest, WrapsASocketAcceptedOutsideTheLoop) {
  EventLoop loop;
  Socket listener = bound_socket("127.0.0.1", 0, true);
  Socket client = Socket::create(AF_INET, SOCK_STREAM);
  client.setblocking(true);
  SocketAddress address = listener.getsockname();
  ASSERT_EQ(::connect(client.fileno(), address.data(), address.size()), 0);
  client.setblocking(false);
  Socket accepted = accept_one(listener);
  accepted.setblocking(true);  // made non-blocking again by connect_accepted_socket
  RecordingFactory<> factory;
  Connection<> connection =
      run(loop, connect_accepted_socket(loop, factory.factory(), std::move(accepted)));
  RecordingProtocol& protocol = *factory.made.at(0);
  EXPECT_EQ(protocol.trace(), "made");
  EXPECT_TRUE(peername(connection.first) == client.getsockname());
  EXPECT_TRUE(sockname(connection.first) == address);
  auto exchange = [&]() -> Coro<void> {
    connection.first->write("from server side");
    std::string got;
    while (got.size() < 16) {
      std::string chunk = co_await sock_recv(loop, client, 64);
      if (chunk.empty()) break;
      got += chunk;
    }
    EXPECT_EQ(got, "from server side");
    co_await sock_sendall(loop, client, "from client");
    client.shutdown(SHUT_WR);
    while (!protocol.lost()) co_await aio::sleep(0);
  };
  run(loop, exchange());
  EXPECT_EQ(protocol.received, "from client");
  EXPECT_EQ(protocol.trace(), "made data eof lost");

  Socket datagram = Socket::create(AF_INET, SOCK_DGRAM);
  std::string repr = datagram.repr();
  EXPECT_EQ(error_message([&] {
              run(loop, connect_accepted_socket(loop, factory.factory(), std::move(datagram)));
            }),
            "A Stream Socket was expected, got " + repr);
  EXPECT_EQ(factory.made.size(), 1u);
}

// --- A real peer ---------------------------------------------------------------------------------

TEST(CreateConnectionTest, TalksToAPythonAsyncioEchoServer) {
  if (testing::find_program("python3").empty()) GTEST_SKIP() << "python3 is not installed";
  int port = testing::free_loopback_port();
  const char* script =
      "import asyncio, sys\n"
      "async def handle(reader, writer):\n"
      "    while data := await reader.read(65536):\n"
      "        writer.write(data)\n"
      "        await writer.drain()\n"
      "    writer.close()\n"
      "async def main():\n"
      "    server = await asyncio.start_server(handle, '127.0.0.1', int(sys.argv[1]))\n"
      "    async with server:\n"
      "        await server.serve_forever()\n"
      "asyncio.run(main())\n";
  testing::PeerProcess python({"python3", "-c", script, std::to_string(port)});
  ASSERT_TRUE(testing::wait_for_tcp_port(port, 10, python));
  EventLoop loop;
  RecordingFactory<> factory;
  Connection<> connection = run(
      loop, create_connection(loop, factory.factory(), "127.0.0.1", static_cast<uint16_t>(port)));
  RecordingProtocol& protocol = *factory.made.at(0);
  std::string message(100000, 'x');
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>('a' + i % 26);
  auto exchange = [&]() -> Coro<void> {
    connection.first->write(message);
    while (protocol.received.size() < message.size() && !protocol.lost()) {
      co_await aio::sleep(0.001);
    }
    connection.first->write_eof();
    while (!protocol.lost()) co_await aio::sleep(0.001);
  };
  run(loop, exchange());
  EXPECT_TRUE(protocol.received == message) << protocol.received.size() << " bytes back";
  EXPECT_EQ(protocol.trace(), "made data eof lost");
}

}  // namespace
}  // namespace aio
