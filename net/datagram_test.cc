// create_datagram_endpoint and DatagramSocketTransport against asyncio's rules (base_events.py
// create_datagram_endpoint, selector_events.py _SelectorDatagramTransport; asyncio 3.8 where later
// versions differ, e.g. sendto(b"") sends nothing): UDP over IPv4 and IPv6 loopback, names served
// by a real dnsmasq, UNIX datagram sockets (bound paths, abstract names, unbound, socketpairs via
// sock=), ICMP errors, flow control on a full socketpair, and real peers (socat echoes over UDP
// and UNIX datagrams, memcached's UDP protocol).
//
// Every endpoint's protocol is a DatagramRecorder, which fails the test on any breach of the
// callback contract. Raw peers are plain sockets read with poll() timeouts; every wait is
// bounded; every peer process is stopped by its PeerProcess; UNIX sockets live under /tmp.
#include "net/datagram.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/addrinfo.h"
#include "dns/resolver.h"
#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "net/protocols.h"
#include "net/socket.h"
#include "testing/dnsmasq.h"
#include "testing/fd_count.h"
#include "testing/loop_test_util.h"
#include "testing/peer_process.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::open_fd_count;
using ::aio::testing::PeerProcess;
using ::aio::testing::run_until;

// --- An asserting datagram protocol --------------------------------------------------------------

// Records every callback and checks asyncio's contract as it goes: connection_made once and first;
// datagram_received and error_received only while connected; connection_lost once and last;
// pause_writing/resume_writing alternating, starting with pause.
class DatagramRecorder : public DatagramProtocol {
 public:
  enum class State { kNew, kConnected, kLost };
  struct Datagram {
    std::string data;
    SocketAddress from;
  };

  void connection_made(DatagramTransport& transport) override {
    EXPECT_EQ(state_, State::kNew) << "connection_made must come first, once";
    state_ = State::kConnected;
    transport_ = internal::Ref<DatagramTransport>::share(&transport);
    events.push_back("made");
  }
  void datagram_received(std::span<const std::byte> data, const SocketAddress& from) override {
    EXPECT_EQ(state_, State::kConnected) << "datagram outside the connection";
    datagrams.push_back(
        {std::string(reinterpret_cast<const char*>(data.data()), data.size()), from});
    if (events.empty() || events.back() != "dgram") events.push_back("dgram");
    if (on_datagram) on_datagram(*transport_, datagrams.back());
  }
  void error_received(std::exception_ptr error) override {
    EXPECT_EQ(state_, State::kConnected) << "error_received outside the connection";
    errors.push_back(error);
    events.push_back("error:" + describe_exception(error));
    if (on_error) on_error(*transport_, error);
  }
  void connection_lost(std::exception_ptr error) override {
    EXPECT_NE(state_, State::kLost) << "connection_lost twice";
    EXPECT_NE(state_, State::kNew) << "connection_lost before connection_made";
    state_ = State::kLost;
    lost_error = error;
    events.push_back(error ? "lost:" + describe_exception(error) : "lost");
    transport_.reset();
  }
  void pause_writing() override {
    EXPECT_FALSE(paused_) << "pause_writing twice in a row";
    EXPECT_EQ(state_, State::kConnected);
    paused_ = true;
    events.push_back("pause");
  }
  void resume_writing() override {
    EXPECT_TRUE(paused_) << "resume_writing without pause_writing";
    EXPECT_EQ(state_, State::kConnected);
    paused_ = false;
    events.push_back("resume");
    if (on_resume) on_resume();
  }

  bool lost() const { return state_ == State::kLost; }
  bool connected() const { return state_ == State::kConnected; }
  std::string trace() const { return testing::join(events); }
  std::vector<std::string> received() const {
    std::vector<std::string> data;
    for (const Datagram& datagram : datagrams) data.push_back(datagram.data);
    return data;
  }

  std::vector<std::string> events;
  std::vector<Datagram> datagrams;
  std::vector<std::exception_ptr> errors;
  std::exception_ptr lost_error;
  std::function<void(DatagramTransport&, const Datagram&)> on_datagram;
  std::function<void(DatagramTransport&, std::exception_ptr)> on_error;
  std::function<void()> on_resume;

 private:
  State state_ = State::kNew;
  bool paused_ = false;
  internal::Ref<DatagramTransport> transport_;  // kept until connection_lost, as a protocol would
};

// --- Helpers -------------------------------------------------------------------------------------

template <class T>
T run(EventLoop& loop, Coro<T> coro, double timeout = 10) {
  return loop.run_until_complete(aio::wait_for(std::move(coro), timeout));
}

void run_once(EventLoop& loop) { loop.run_until_complete(sleep(0)); }

struct Endpoint {
  DatagramTransportRef transport;
  std::shared_ptr<DatagramRecorder> protocol;
  SocketAddress sockname() const {
    return std::any_cast<SocketAddress>(transport->get_extra_info("sockname"));
  }
  std::shared_ptr<Socket> socket() const {
    return std::any_cast<std::shared_ptr<Socket>>(transport->get_extra_info("socket"));
  }
};

std::function<std::shared_ptr<BaseProtocol>()> recorder_factory(int* made = nullptr) {
  return [made] {
    if (made != nullptr) ++*made;
    return std::make_shared<DatagramRecorder>();
  };
}

Endpoint open_endpoint(EventLoop& loop, DatagramOptions options) {
  DatagramEndpoint endpoint =
      run(loop, create_datagram_endpoint(loop, recorder_factory(), std::move(options)));
  auto protocol = std::dynamic_pointer_cast<DatagramRecorder>(endpoint.second);
  EXPECT_NE(protocol, nullptr);
  EXPECT_EQ(protocol->trace(), "made") << "the endpoint is returned after connection_made";
  return {endpoint.first, protocol};
}

// What create_datagram_endpoint throws, as "TypeName: message", or "<no exception>" (then the
// endpoint is closed again).
std::string endpoint_error(EventLoop& loop, DatagramOptions options, int* made = nullptr) {
  try {
    DatagramEndpoint endpoint =
        run(loop, create_datagram_endpoint(loop, recorder_factory(made), std::move(options)));
    endpoint.first->abort();
    run_once(loop);
  } catch (...) {
    return describe_exception(std::current_exception());
  }
  return "<no exception>";
}

void close_and_wait(EventLoop& loop, const Endpoint& endpoint) {
  endpoint.transport->close();
  run_until(loop, [&] { return endpoint.protocol->lost(); });
}

DatagramOptions local_addr(const std::string& host, const std::string& port = "0") {
  DatagramOptions options;
  options.local_addr = {host, port};
  return options;
}

DatagramOptions remote_addr(const std::string& host, std::uint16_t port) {
  DatagramOptions options;
  options.remote_addr = {host, std::to_string(port)};
  return options;
}

DatagramOptions unix_options(std::optional<std::string> local, std::optional<std::string> remote) {
  DatagramOptions options;
  options.family = AF_UNIX;
  if (local) options.local_addr = {*local, ""};
  if (remote) options.remote_addr = {*remote, ""};
  return options;
}

SocketAddress ip_address(const std::string& host, std::uint16_t port) {
  return host.find(':') == std::string::npos ? SocketAddress::ipv4(host, port)
                                             : SocketAddress::ipv6(host, port);
}

// A raw UDP socket bound to (host, port).
Socket udp_socket(const std::string& host, std::uint16_t port = 0) {
  SocketAddress address = ip_address(host, port);
  Socket sock = Socket::create(address.family(), SOCK_DGRAM);
  sock.bind(address);
  return sock;
}

bool ipv6_loopback() {
  static const bool available = [] {
    try {
      udp_socket("::1");
      return true;
    } catch (const OSError&) {
      return false;
    }
  }();
  return available;
}

// A UDP port on `host` that nothing listens on (bound a moment ago, then released).
std::uint16_t closed_udp_port(const std::string& host) {
  return udp_socket(host).getsockname().port();
}

void send_raw(const Socket& from, const std::string& data, const SocketAddress& to) {
  ASSERT_EQ(::sendto(from.fileno(), data.data(), data.size(), 0, to.data(), to.size()),
            static_cast<ssize_t>(data.size()))
      << std::strerror(errno);
}

struct Received {
  std::string data;
  SocketAddress from;
};

// The next datagram on `fd`, waiting up to `timeout_ms`.
std::optional<Received> receive(int fd, int timeout_ms = 5000) {
  pollfd entry{fd, POLLIN, 0};
  if (::poll(&entry, 1, timeout_ms) != 1) return std::nullopt;
  char buffer[65536];
  SocketAddress from;
  socklen_t length = SocketAddress::capacity();
  ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, MSG_DONTWAIT, from.data(), &length);
  if (n < 0) return std::nullopt;
  from.set_size(length);
  return Received{std::string(buffer, static_cast<std::size_t>(n)), from};
}

std::string receive_data(const Socket& sock, int timeout_ms = 5000) {
  std::optional<Received> got = receive(sock.fileno(), timeout_ms);
  return got ? got->data : "<nothing>";
}

// A fresh directory under /tmp (TEST_TMPDIR can exceed sun_path), removed with its contents.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/aio-dgram-XXXXXX";
    if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A raw UNIX datagram socket bound to `path` (a leading '\0' makes it abstract).
Socket unix_socket(const std::string& path) {
  Socket sock = Socket::create(AF_UNIX, SOCK_DGRAM);
  if (!path.empty()) sock.bind(SocketAddress::unix_path(path));
  return sock;
}

// An abstract name no other test (or run) uses.
std::string abstract_name(const std::string& tag) {
  static std::atomic<int> counter{0};
  return std::string(1, '\0') + "aio-dgram-test-" + std::to_string(::getpid()) + "-" + tag + "-" +
         std::to_string(counter++);
}

bool is_socket_file(const std::string& path) {
  struct stat info{};
  return ::stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

bool installed(const std::string& program) { return !testing::find_program(program).empty(); }

// --- UDP over IPv4 and IPv6 ----------------------------------------------------------------------

class UdpTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "::1" && !ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback";
  }
  std::string host() const { return GetParam(); }
  EventLoop loop_;
};

INSTANTIATE_TEST_SUITE_P(Families, UdpTest, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) { return info.param == "::1" ? "IPv6" : "IPv4"; });

TEST_P(UdpTest, UnconnectedEndpointReceivesWithTheSenderAndRepliesWithSendto) {
  Endpoint endpoint = open_endpoint(loop_, local_addr(host()));
  SocketAddress name = endpoint.sockname();
  EXPECT_EQ(name.family(), host() == "::1" ? AF_INET6 : AF_INET);
  EXPECT_EQ(name.host(), host());
  EXPECT_NE(name.port(), 0);
  EXPECT_FALSE(endpoint.transport->get_extra_info("peername").has_value())
      << "an unconnected endpoint has no peername";
  EXPECT_FALSE(endpoint.transport->is_closing());

  Socket peer = udp_socket(host());
  send_raw(peer, "one", name);
  send_raw(peer, "two", name);
  run_until(loop_, [&] { return endpoint.protocol->datagrams.size() == 2; });
  EXPECT_EQ(endpoint.protocol->received(), (std::vector<std::string>{"one", "two"}))
      << "one datagram_received per datagram, boundaries kept";
  EXPECT_EQ(endpoint.protocol->datagrams[0].from, peer.getsockname());

  SocketAddress peer_address = peer.getsockname();
  endpoint.transport->sendto("reply", &peer_address);
  std::optional<Received> reply = receive(peer.fileno());
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "reply");
  EXPECT_EQ(reply->from, name);

  // A second sender is a second address.
  Socket other = udp_socket(host());
  send_raw(other, "three", name);
  run_until(loop_, [&] { return endpoint.protocol->datagrams.size() == 3; });
  EXPECT_EQ(endpoint.protocol->datagrams[2].from, other.getsockname());

  close_and_wait(loop_, endpoint);
  EXPECT_EQ(endpoint.protocol->trace(), "made dgram lost");
  EXPECT_FALSE(endpoint.transport->get_extra_info("socket").has_value()) << "closed";
}

TEST_P(UdpTest, ConnectedEndpointSendsToItsPeerOnlyAndRefusesOtherAddresses) {
  Socket peer = udp_socket(host());
  SocketAddress peer_address = peer.getsockname();
  Endpoint endpoint = open_endpoint(loop_, remote_addr(host(), peer_address.port()));
  EXPECT_EQ(std::any_cast<SocketAddress>(endpoint.transport->get_extra_info("peername")),
            peer_address);
  SocketAddress name = endpoint.sockname();
  EXPECT_EQ(name.host(), host()) << "the kernel picked the loopback source";
  auto socket = endpoint.socket();
  EXPECT_EQ(socket->getpeername(), peer_address);

  endpoint.transport->sendto("no address");
  endpoint.transport->sendto("its address", &peer_address);
  EXPECT_EQ(receive_data(peer), "no address");
  EXPECT_EQ(receive_data(peer), "its address");

  Socket other = udp_socket(host());
  SocketAddress other_address = other.getsockname();
  std::string expected = "Invalid address: must be None or ('" + host() + "', " +
                         std::to_string(peer_address.port()) + (host() == "::1" ? ", 0, 0)" : ")");
  EXPECT_EQ(error_message([&] { endpoint.transport->sendto("x", &other_address); }), expected);
  EXPECT_THROW(endpoint.transport->sendto("x", &other_address), ValueError);

  // Replies come with the peer's address.
  send_raw(peer, "pong", name);
  run_until(loop_, [&] { return endpoint.protocol->datagrams.size() == 1; });
  EXPECT_EQ(endpoint.protocol->datagrams[0].from, peer_address);
  close_and_wait(loop_, endpoint);
  EXPECT_EQ(endpoint.protocol->trace(), "made dgram lost");
}

TEST_P(UdpTest, EmptyDatagramsAreNotSentButAreReceived) {
  Socket peer = udp_socket(host());
  SocketAddress peer_address = peer.getsockname();
  Endpoint endpoint = open_endpoint(loop_, local_addr(host()));
  endpoint.transport->sendto("", &peer_address);  // asyncio 3.8: nothing is sent
  endpoint.transport->sendto(std::span<const std::byte>(), &peer_address);
  EXPECT_EQ(endpoint.transport->get_write_buffer_size(), 0u);
  endpoint.transport->sendto("marker", &peer_address);
  EXPECT_EQ(receive_data(peer), "marker") << "the empty datagrams were not sent";

  send_raw(peer, "", endpoint.sockname());  // but an empty datagram received is a datagram
  send_raw(peer, "after", endpoint.sockname());
  run_until(loop_, [&] { return endpoint.protocol->datagrams.size() == 2; });
  EXPECT_EQ(endpoint.protocol->received(), (std::vector<std::string>{"", "after"}));
  close_and_wait(loop_, endpoint);
}

TEST_P(UdpTest, IcmpPortUnreachableGoesToErrorReceivedAndIsNotFatal) {
  std::uint16_t port = closed_udp_port(host());
  Endpoint endpoint = open_endpoint(loop_, remote_addr(host(), port));
  DatagramRecorder& protocol = *endpoint.protocol;

  // Receive side: the send succeeds, the ICMP error comes back and the next recvfrom reports it.
  endpoint.transport->sendto("ping");
  EXPECT_TRUE(protocol.errors.empty());
  run_until(loop_, [&] { return protocol.errors.size() == 1; });
  ASSERT_EQ(protocol.errors.size(), 1u);
  EXPECT_TRUE(holds<ConnectionRefusedError>(protocol.errors[0]));
  EXPECT_EQ(describe_exception(protocol.errors[0]),
            "aio::ConnectionRefusedError: [Errno 111] Connection refused");
  EXPECT_FALSE(endpoint.transport->is_closing()) << "ICMP errors are not fatal";

  // Send side: with the error pending (the loop not running), the next send reports it, at once.
  auto socket = endpoint.socket();
  ASSERT_EQ(::send(socket->fileno(), "raw", 3, 0), 3);
  pollfd entry{socket->fileno(), POLLERR, 0};
  ASSERT_EQ(::poll(&entry, 1, 5000), 1) << "no ICMP error came back";
  endpoint.transport->sendto("second");
  ASSERT_EQ(protocol.errors.size(), 2u) << "error_received from inside sendto";
  EXPECT_TRUE(holds<ConnectionRefusedError>(protocol.errors[1]));
  EXPECT_EQ(endpoint.transport->get_write_buffer_size(), 0u) << "a failed datagram is not kept";

  // The endpoint still works: a peer that appears on the port gets the next datagram.
  Socket late_peer = udp_socket(host(), port);
  endpoint.transport->sendto("now there");
  EXPECT_EQ(receive_data(late_peer), "now there");
  send_raw(late_peer, "back", endpoint.sockname());
  run_until(loop_, [&] { return protocol.datagrams.size() == 1; });
  close_and_wait(loop_, endpoint);
  EXPECT_EQ(protocol.trace(),
            "made error:aio::ConnectionRefusedError: [Errno 111] Connection refused "
            "error:aio::ConnectionRefusedError: [Errno 111] Connection refused dgram lost");
  EXPECT_EQ(protocol.lost_error, nullptr);
}

TEST_P(UdpTest, BindFailureClosesTheSocketAndRaisesTheOSError) {
  Socket taken = udp_socket(host());
  std::uint16_t port = taken.getsockname().port();
  int before = open_fd_count();
  int made = 0;
  EXPECT_EQ(endpoint_error(loop_, local_addr(host(), std::to_string(port)), &made),
            "aio::OSError: [Errno 98] Address already in use");
  EXPECT_EQ(made, 0) << "no protocol for an endpoint that failed";
  EXPECT_EQ(open_fd_count(), before) << "the socket that failed to bind is closed";
}

// --- Options and validation ----------------------------------------------------------------------

TEST(DatagramEndpointTest, SocketOptionsAreSetOnlyWhenAsked) {
  EventLoop loop;
  {
    Endpoint endpoint = open_endpoint(loop, local_addr("127.0.0.1"));
    auto socket = endpoint.socket();
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_BROADCAST), 0);
    EXPECT_EQ(socket->type(), SOCK_DGRAM);
    EXPECT_FALSE(socket->blocking());
    EXPECT_THROW(socket->close(), RuntimeError) << "the view cannot close the endpoint's socket";
    close_and_wait(loop, endpoint);
  }
  {
    DatagramOptions options = local_addr("127.0.0.1");
    options.reuse_address = false;  // allowed, and changes nothing
    options.reuse_port = true;
    Endpoint first = open_endpoint(loop, std::move(options));
    auto socket = first.socket();
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_BROADCAST), 0);
    // reuse_port lets a second endpoint bind the same port.
    DatagramOptions again = local_addr("127.0.0.1", std::to_string(first.sockname().port()));
    again.reuse_port = true;
    Endpoint second = open_endpoint(loop, std::move(again));
    EXPECT_EQ(second.sockname(), first.sockname());
    close_and_wait(loop, first);
    close_and_wait(loop, second);
  }
  {
    DatagramOptions options = local_addr("127.0.0.1");
    options.allow_broadcast = true;
    Endpoint endpoint = open_endpoint(loop, std::move(options));
    auto socket = endpoint.socket();
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_BROADCAST), 1);
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
    EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
    close_and_wait(loop, endpoint);
  }
}

TEST(DatagramEndpointTest, ReuseAddressTrueIsRefusedAsBpo37228) {
  EventLoop loop;
  int before = open_fd_count();
  DatagramOptions options = local_addr("127.0.0.1");
  options.reuse_address = true;
  int made = 0;
  EXPECT_EQ(endpoint_error(loop, std::move(options), &made),
            "aio::ValueError: Passing `reuse_address=True` is no longer supported, as the usage "
            "of SO_REUSEPORT in UDP poses a significant security concern.");
  EXPECT_EQ(made, 0);
  EXPECT_EQ(open_fd_count(), before);
}

TEST(DatagramEndpointTest, AllowBroadcastWithRemoteAddrDoesNotConnectButSendsThere) {
  EventLoop loop;
  Socket peer = udp_socket("127.0.0.1");
  SocketAddress peer_address = peer.getsockname();
  DatagramOptions options = remote_addr("127.0.0.1", peer_address.port());
  options.allow_broadcast = true;
  Endpoint endpoint = open_endpoint(loop, std::move(options));
  auto socket = endpoint.socket();
  EXPECT_EQ(socket->getsockopt(SOL_SOCKET, SO_BROADCAST), 1);
  try {
    socket->getpeername();
    ADD_FAILURE() << "the socket is connected";
  } catch (const OSError& e) {
    EXPECT_EQ(e.err(), ENOTCONN);
  }
  EXPECT_FALSE(endpoint.transport->get_extra_info("peername").has_value())
      << "peername is the connected peer's, and there is none";

  endpoint.transport->sendto("to remote_addr");
  std::optional<Received> got = receive(peer.fileno());
  ASSERT_TRUE(got) << endpoint.protocol->trace();
  EXPECT_EQ(got->data, "to remote_addr");
  EXPECT_EQ(got->from.port(), socket->getsockname().port()) << "the kernel bound it (wildcard)";
  EXPECT_EQ(endpoint.sockname().port(), 0) << "sockname is cached at creation, as asyncio";
  endpoint.transport->sendto("explicitly", &peer_address);
  EXPECT_EQ(receive_data(peer), "explicitly");
  SocketAddress other = SocketAddress::ipv4("127.0.0.1", 9);
  EXPECT_EQ(error_message([&] { endpoint.transport->sendto("x", &other); }),
            "Invalid address: must be None or ('127.0.0.1', " +
                std::to_string(peer_address.port()) + ")");

  // Unconnected: datagrams from anyone arrive.
  Socket stranger = udp_socket("127.0.0.1");
  send_raw(stranger, "hi", SocketAddress::ipv4("127.0.0.1", socket->getsockname().port()));
  run_until(loop, [&] { return endpoint.protocol->datagrams.size() == 1; });
  EXPECT_EQ(endpoint.protocol->datagrams[0].from, stranger.getsockname());
  close_and_wait(loop, endpoint);
  EXPECT_EQ(endpoint.protocol->trace(), "made dgram lost");
}

TEST(DatagramEndpointTest, ValidationErrorsAreAsyncios) {
  EventLoop loop;
  int before = open_fd_count();
  int made = 0;
  EXPECT_EQ(endpoint_error(loop, DatagramOptions{}, &made),
            "aio::ValueError: unexpected address family");

  // A v4 literal and a v6 literal have no (family, proto) in common.
  DatagramOptions mixed = local_addr("127.0.0.1");
  mixed.remote_addr = {"::1", "9"};
  EXPECT_EQ(endpoint_error(loop, std::move(mixed), &made),
            "aio::ValueError: can not get address information");
  DatagramOptions v4_only = remote_addr("::1", 9);
  v4_only.family = AF_INET;
  EXPECT_EQ(endpoint_error(loop, std::move(v4_only), &made).rfind("aio::dns::ResolverError", 0),
            0u);

  // sock= of the wrong type (a TCP socket: Socket::repr is Python's there).
  {
    Socket stream = Socket::create(AF_INET, SOCK_STREAM);
    std::string repr = stream.repr();
    EXPECT_EQ(repr, "<socket.socket fd=" + std::to_string(stream.fileno()) +
                        ", family=2, type=1, proto=6, laddr=('0.0.0.0', 0)>");
    DatagramOptions options;
    options.sock = std::move(stream);
    EXPECT_EQ(endpoint_error(loop, std::move(options), &made),
              "aio::ValueError: A UDP Socket was expected, got " + repr);
  }
  // sock= with any modifier: every one is named, as asyncio's f'{k}={v}'.
  {
    Socket sock = udp_socket("127.0.0.1");
    DatagramOptions options = local_addr("127.0.0.1");
    options.remote_addr = {"127.0.0.1", "9"};
    options.family = AF_INET;
    options.proto = IPPROTO_UDP;
    options.flags = 1;
    options.reuse_port = true;
    options.allow_broadcast = true;
    options.sock = std::move(sock);
    EXPECT_EQ(endpoint_error(loop, std::move(options), &made),
              "aio::ValueError: socket modifier keyword arguments can not be used when sock is "
              "specified. (local_addr=('127.0.0.1', 0), remote_addr=('127.0.0.1', 9), family=2, "
              "proto=17, flags=1, reuse_port=True, allow_broadcast=True)");
  }
  {
    DatagramOptions options;
    options.family = AF_UNIX;
    options.sock = unix_socket("");
    EXPECT_EQ(endpoint_error(loop, std::move(options), &made),
              "aio::ValueError: socket modifier keyword arguments can not be used when sock is "
              "specified. (family=1)");
  }
  {
    DatagramOptions options;
    options.local_addr = {"/tmp/some/path", ""};
    options.sock = unix_socket("");
    EXPECT_EQ(endpoint_error(loop, std::move(options), &made),
              "aio::ValueError: socket modifier keyword arguments can not be used when sock is "
              "specified. (local_addr='/tmp/some/path')");
  }
  EXPECT_EQ(made, 0) << "no protocol is made for a refused endpoint";
  EXPECT_EQ(open_fd_count(), before) << "refused sockets are closed";
}

TEST(DatagramEndpointTest, FamilyWithoutAddressesMakesAnUnboundSocket) {
  EventLoop loop;
  Socket peer = udp_socket("127.0.0.1");
  SocketAddress peer_address = peer.getsockname();
  DatagramOptions options;
  options.family = AF_INET;
  Endpoint endpoint = open_endpoint(loop, std::move(options));
  EXPECT_EQ(endpoint.sockname().family(), AF_INET);
  EXPECT_EQ(endpoint.sockname().port(), 0) << "not bound yet";
  endpoint.transport->sendto("first", &peer_address);  // the kernel binds it now
  std::optional<Received> got = receive(peer.fileno());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->data, "first");
  send_raw(peer, "answer", got->from);
  run_until(loop, [&] { return endpoint.protocol->datagrams.size() == 1; });
  EXPECT_EQ(endpoint.protocol->datagrams[0].data, "answer");
  close_and_wait(loop, endpoint);
}

TEST(DatagramEndpointTest, AProtocolThatIsNotADatagramProtocolIsATypeErrorAndLeaksNothing) {
  EventLoop loop;
  int before = open_fd_count();
  auto stream_factory = [] { return std::make_shared<Protocol>(); };
  try {
    run(loop, create_datagram_endpoint(loop, stream_factory, local_addr("127.0.0.1")));
    ADD_FAILURE() << "a stream protocol was accepted";
  } catch (const TypeError& e) {
    EXPECT_STREQ(e.what(), "a datagram transport needs a DatagramProtocol");
  }
  run_once(loop);
  EXPECT_EQ(open_fd_count(), before);
}

// --- Names through //dns, with a real dnsmasq ----------------------------------------------------

class DnsmasqDatagramTest : public ::testing::Test {
 protected:
  DnsmasqDatagramTest()
      : dnsmasq_({
            "--host-record=v4.test,127.0.0.1",
            "--host-record=v6.test,::1",
            "--host-record=both.test,127.0.0.1,::1",
        }) {
    dns::Resolver::of(loop_, dns::ResolverOptions{.timeout_ms = 2000, .tries = 2})
        .set_servers(dnsmasq_.csv());
  }
  EventLoop loop_;
  testing::Dnsmasq dnsmasq_;
};

TEST_F(DnsmasqDatagramTest, LocalAndRemoteNamesResolve) {
  Endpoint server = open_endpoint(loop_, local_addr("v4.test"));
  EXPECT_EQ(server.sockname().host(), "127.0.0.1");
  Endpoint client = open_endpoint(loop_, remote_addr("v4.test", server.sockname().port()));
  EXPECT_EQ(std::any_cast<SocketAddress>(client.transport->get_extra_info("peername")),
            server.sockname());
  server.protocol->on_datagram = [](DatagramTransport& transport,
                                    const DatagramRecorder::Datagram& datagram) {
    transport.sendto("echo:" + datagram.data, &datagram.from);
  };
  client.transport->sendto("hello");
  run_until(loop_, [&] { return client.protocol->datagrams.size() == 1; });
  EXPECT_EQ(client.protocol->datagrams[0].data, "echo:hello");
  EXPECT_EQ(server.protocol->datagrams.at(0).from, client.sockname());
  close_and_wait(loop_, client);
  close_and_wait(loop_, server);
}

TEST_F(DnsmasqDatagramTest, FamilyPicksTheAddressOfANameWithBoth) {
  if (!ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback";
  for (int family : {AF_INET, AF_INET6}) {
    std::string host = family == AF_INET ? "127.0.0.1" : "::1";
    Socket peer = udp_socket(host);
    DatagramOptions options = remote_addr("both.test", peer.getsockname().port());
    options.family = family;
    Endpoint endpoint = open_endpoint(loop_, std::move(options));
    EXPECT_EQ(std::any_cast<SocketAddress>(endpoint.transport->get_extra_info("peername")),
              peer.getsockname());
    endpoint.transport->sendto("via name");
    EXPECT_EQ(receive_data(peer), "via name");
    close_and_wait(loop_, endpoint);
  }
}

TEST_F(DnsmasqDatagramTest, ANameWithBothFamiliesConnectsToOneOfThem) {
  if (!ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback";
  // The same port on both loopbacks, so whichever family comes first has a peer.
  Socket v4, v6;
  for (int attempt = 0; attempt < 20 && !v6.is_open(); ++attempt) {
    v4 = udp_socket("127.0.0.1");
    try {
      v6 = udp_socket("::1", v4.getsockname().port());
    } catch (const OSError&) {
    }
  }
  ASSERT_TRUE(v6.is_open());
  Endpoint endpoint = open_endpoint(loop_, remote_addr("both.test", v4.getsockname().port()));
  SocketAddress peer = std::any_cast<SocketAddress>(endpoint.transport->get_extra_info("peername"));
  endpoint.transport->sendto("which");
  EXPECT_EQ(receive_data(peer.family() == AF_INET ? v4 : v6), "which");
  close_and_wait(loop_, endpoint);
}

TEST_F(DnsmasqDatagramTest, BindFailureOnEveryAddressRaisesTheFirstErrorAndFallsBackOtherwise) {
  if (!ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback";
  Socket v4, v6;
  for (int attempt = 0; attempt < 20 && !v6.is_open(); ++attempt) {
    v4 = udp_socket("127.0.0.1");
    try {
      v6 = udp_socket("::1", v4.getsockname().port());
    } catch (const OSError&) {
    }
  }
  ASSERT_TRUE(v6.is_open());
  std::string port = std::to_string(v4.getsockname().port());
  int before = open_fd_count();
  EXPECT_EQ(endpoint_error(loop_, local_addr("both.test", port)),
            "aio::OSError: [Errno 98] Address already in use");
  EXPECT_EQ(open_fd_count(), before) << "every socket that failed to bind is closed";
  // With one family's port free, that family is used, whichever order the lookup gave.
  v6.close();
  Endpoint on_v6 = open_endpoint(loop_, local_addr("both.test", port));
  EXPECT_EQ(on_v6.sockname().family(), AF_INET6);
  close_and_wait(loop_, on_v6);
  v6 = udp_socket("::1", v4.getsockname().port());
  v4.close();
  Endpoint on_v4 = open_endpoint(loop_, local_addr("both.test", port));
  EXPECT_EQ(on_v4.sockname().family(), AF_INET);
  close_and_wait(loop_, on_v4);
}

TEST_F(DnsmasqDatagramTest, NoCommonFamilyAndUnknownNamesFail) {
  int before = open_fd_count();
  DatagramOptions mixed = local_addr("127.0.0.1");
  mixed.remote_addr = {"v6.test", "9"};
  EXPECT_EQ(endpoint_error(loop_, std::move(mixed)),
            "aio::ValueError: can not get address information");
  EXPECT_EQ(endpoint_error(loop_, remote_addr("missing.test", 9)),
            "aio::dns::ResolverError: Name or service not known");
  EXPECT_EQ(open_fd_count(), before);
}

// --- UNIX datagram sockets -----------------------------------------------------------------------

TEST(UnixDatagramTest, BoundPathReceivesFromNamedSendersAndReplies) {
  EventLoop loop;
  TempDir dir;
  std::string path = dir.file("server");
  Endpoint endpoint = open_endpoint(loop, unix_options(path, std::nullopt));
  EXPECT_EQ(endpoint.sockname().path(), path);
  EXPECT_TRUE(is_socket_file(path));
  EXPECT_FALSE(endpoint.transport->get_extra_info("peername").has_value());

  Socket client = unix_socket(dir.file("client"));
  send_raw(client, "from a path", SocketAddress::unix_path(path));
  Socket anonymous = unix_socket("");
  send_raw(anonymous, "from nowhere", SocketAddress::unix_path(path));
  run_until(loop, [&] { return endpoint.protocol->datagrams.size() == 2; });
  EXPECT_EQ(endpoint.protocol->datagrams[0].data, "from a path");
  EXPECT_EQ(endpoint.protocol->datagrams[0].from.path(), dir.file("client"));
  EXPECT_EQ(endpoint.protocol->datagrams[1].data, "from nowhere");
  EXPECT_EQ(endpoint.protocol->datagrams[1].from.to_string(), "None")
      << "an unbound sender has no address (Python's None)";

  endpoint.transport->sendto("reply", &endpoint.protocol->datagrams[0].from);
  std::optional<Received> got = receive(client.fileno());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->data, "reply");
  EXPECT_EQ(got->from.path(), path);
  close_and_wait(loop, endpoint);
  EXPECT_TRUE(is_socket_file(path)) << "asyncio leaves the socket file in place";
}

TEST(UnixDatagramTest, AStaleSocketFileIsReplacedButARegularFileIsNot) {
  EventLoop loop;
  TempDir dir;
  std::string path = dir.file("stale");
  unix_socket(path);  // bound and closed: the file stays
  ASSERT_TRUE(is_socket_file(path));
  Endpoint endpoint = open_endpoint(loop, unix_options(path, std::nullopt));
  Socket client = unix_socket("");
  send_raw(client, "fresh", SocketAddress::unix_path(path));
  run_until(loop, [&] { return endpoint.protocol->datagrams.size() == 1; });
  close_and_wait(loop, endpoint);

  std::string file = dir.file("regular");
  std::ofstream(file) << "keep me";
  int before = open_fd_count();
  EXPECT_EQ(endpoint_error(loop, unix_options(file, std::nullopt)),
            "aio::OSError: [Errno 98] Address already in use");
  EXPECT_EQ(open_fd_count(), before);
  std::ifstream in(file);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "keep me");
}

TEST(UnixDatagramTest, AbstractNames) {
  EventLoop loop;
  std::string name = abstract_name("server");
  Endpoint endpoint = open_endpoint(loop, unix_options(name, std::nullopt));
  EXPECT_TRUE(endpoint.sockname().is_abstract());
  EXPECT_EQ(endpoint.sockname().path(), name);
  EXPECT_EQ(endpoint.sockname().to_string(), "b'\\x00" + name.substr(1) + "'");

  std::string client_name = abstract_name("client");
  Socket client = unix_socket(client_name);
  send_raw(client, "abstract", SocketAddress::unix_path(name));
  run_until(loop, [&] { return endpoint.protocol->datagrams.size() == 1; });
  EXPECT_EQ(endpoint.protocol->datagrams[0].from.path(), client_name);
  endpoint.transport->sendto("back", &endpoint.protocol->datagrams[0].from);
  EXPECT_EQ(receive_data(client), "back");

  // A connected endpoint to an abstract name.
  Endpoint connected = open_endpoint(loop, unix_options(std::nullopt, client_name));
  EXPECT_EQ(std::any_cast<SocketAddress>(connected.transport->get_extra_info("peername")).path(),
            client_name);
  connected.transport->sendto("connected");
  EXPECT_EQ(receive_data(client), "connected");
  close_and_wait(loop, connected);
  close_and_wait(loop, endpoint);
}

TEST(UnixDatagramTest, UnboundAndConnectedEndpoints) {
  EventLoop loop;
  TempDir dir;
  std::string path = dir.file("peer");
  Socket peer = unix_socket(path);
  SocketAddress peer_address = SocketAddress::unix_path(path);
  {
    Endpoint unbound = open_endpoint(loop, unix_options(std::nullopt, std::nullopt));
    EXPECT_EQ(unbound.sockname().family(), AF_UNIX);
    EXPECT_EQ(unbound.sockname().path(), "");
    unbound.transport->sendto("unbound", &peer_address);
    std::optional<Received> got = receive(peer.fileno());
    ASSERT_TRUE(got);
    EXPECT_EQ(got->data, "unbound");
    EXPECT_EQ(got->from.size(), 0u) << "an unbound sender has no address";
    close_and_wait(loop, unbound);
  }
  {
    // An empty local path is no local path (asyncio tests `if local_addr`).
    Endpoint unbound = open_endpoint(loop, unix_options("", std::nullopt));
    EXPECT_EQ(unbound.sockname().path(), "");
    close_and_wait(loop, unbound);
  }
  {
    std::string local = dir.file("local");
    Endpoint connected = open_endpoint(loop, unix_options(local, path));
    EXPECT_EQ(connected.sockname().path(), local);
    EXPECT_EQ(std::any_cast<SocketAddress>(connected.transport->get_extra_info("peername")).path(),
              path);
    connected.transport->sendto("connected");
    std::optional<Received> got = receive(peer.fileno());
    ASSERT_TRUE(got);
    EXPECT_EQ(got->from.path(), local);
    SocketAddress elsewhere = SocketAddress::unix_path(dir.file("elsewhere"));
    EXPECT_EQ(error_message([&] { connected.transport->sendto("x", &elsewhere); }),
              "Invalid address: must be None or '" + path + "'");
    send_raw(peer, "answer", SocketAddress::unix_path(local));
    run_until(loop, [&] { return connected.protocol->datagrams.size() == 1; });
    EXPECT_EQ(connected.protocol->datagrams[0].from.path(), path);
    close_and_wait(loop, connected);
  }
  int before = open_fd_count();
  std::string missing = endpoint_error(loop, unix_options(std::nullopt, dir.file("missing")));
  EXPECT_EQ(missing, "aio::FileNotFoundError: [Errno 2] No such file or directory");
  EXPECT_EQ(open_fd_count(), before) << "the socket that failed to connect is closed";
}

TEST(UnixDatagramTest, SocketpairThroughSock) {
  EventLoop loop;
  auto [mine, theirs] = Socket::pair(AF_UNIX, SOCK_DGRAM);
  mine.setblocking(true);  // create_datagram_endpoint makes it non-blocking
  DatagramOptions options;
  options.sock = std::move(mine);
  Endpoint endpoint = open_endpoint(loop, std::move(options));
  EXPECT_FALSE(endpoint.socket()->blocking());
  std::any peername = endpoint.transport->get_extra_info("peername");
  ASSERT_TRUE(peername.has_value()) << "a socketpair is connected";
  EXPECT_EQ(std::any_cast<SocketAddress>(peername).family(), AF_UNIX);

  endpoint.transport->sendto("to the other end");
  EXPECT_EQ(receive_data(theirs), "to the other end");
  ASSERT_EQ(::send(theirs.fileno(), "back", 4, 0), 4);
  run_until(loop, [&] { return endpoint.protocol->datagrams.size() == 1; });
  EXPECT_EQ(endpoint.protocol->datagrams[0].data, "back");
  // The sender's address can be used to answer (it is the connected peer).
  endpoint.transport->sendto("answer", &endpoint.protocol->datagrams[0].from);
  EXPECT_EQ(receive_data(theirs), "answer");
  close_and_wait(loop, endpoint);
  EXPECT_EQ(::recv(theirs.fileno(), nullptr, 0, MSG_DONTWAIT), -1) << "datagram sockets: no EOF";
}

// --- Flow control, close and abort ---------------------------------------------------------------

// An endpoint on one end of a UNIX datagram socketpair with a small send buffer; the test holds
// the other end and reads it only when it wants to.
struct FullPair {
  explicit FullPair(EventLoop& loop) {
    auto [mine, theirs] = Socket::pair(AF_UNIX, SOCK_DGRAM);
    mine.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
    peer = std::move(theirs);
    DatagramOptions options;
    options.sock = std::move(mine);
    endpoint = open_endpoint(loop, std::move(options));
  }
  // Sends numbered 1000-byte datagrams until the kernel refuses one (it is then buffered).
  void fill() {
    while (endpoint.transport->get_write_buffer_size() == 0) send_next();
  }
  void send_next() {
    std::string data = std::to_string(next++) + ":";
    data.resize(1000, '.');
    endpoint.transport->sendto(data);
  }
  // Reads every datagram the peer has (without waiting); returns their numbers.
  std::vector<int> drain() {
    std::vector<int> numbers;
    char buffer[2048];
    for (ssize_t n; (n = ::recv(peer.fileno(), buffer, sizeof buffer, MSG_DONTWAIT)) > 0;) {
      EXPECT_EQ(n, 1000) << "datagram boundaries are kept";
      numbers.push_back(std::atoi(buffer));
    }
    return numbers;
  }
  Endpoint endpoint;
  Socket peer;
  int next = 0;
};

std::vector<int> iota(int count) {
  std::vector<int> numbers;
  for (int i = 0; i < count; ++i) numbers.push_back(i);
  return numbers;
}

TEST(DatagramFlowControlTest, FullKernelQueueBuffersPausesAndResumesExactlyOnce) {
  EventLoop loop;
  FullPair pair(loop);
  DatagramTransport& transport = *pair.endpoint.transport;
  EXPECT_EQ(transport.get_write_buffer_limits(),
            (std::pair<std::size_t, std::size_t>(16384, 65536)));
  transport.set_write_buffer_limits(5000, 2000);
  EXPECT_EQ(transport.get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>(2000, 5000)));
  pair.fill();
  EXPECT_EQ(transport.get_write_buffer_size(), 1000u) << "the refused datagram is buffered";
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made");
  for (int i = 0; i < 10; ++i) pair.send_next();
  EXPECT_EQ(transport.get_write_buffer_size(), 11000u) << "nothing is sent while some are queued";
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made pause") << "paused once, however many sends";

  std::vector<int> got;
  run_until(loop, [&] {
    for (int number : pair.drain()) got.push_back(number);
    return got.size() == static_cast<std::size_t>(pair.next);
  });
  EXPECT_EQ(got, iota(pair.next)) << "every datagram, in order";
  EXPECT_EQ(transport.get_write_buffer_size(), 0u);
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made pause resume");

  // Lowering the limits below what is buffered pauses at once.
  pair.fill();
  transport.set_write_buffer_limits(1, 0);
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made pause resume pause");
  transport.abort();
  EXPECT_EQ(transport.get_write_buffer_size(), 0u) << "abort drops the queue";
  run_until(loop, [&] { return pair.endpoint.protocol->lost(); });
  EXPECT_EQ(pair.endpoint.protocol->lost_error, nullptr);
}

TEST(DatagramFlowControlTest, ResumeComesAtTheLowWaterMarkNotOnlyWhenEmpty) {
  EventLoop loop;
  FullPair pair(loop);
  DatagramTransport& transport = *pair.endpoint.transport;
  transport.set_write_buffer_limits(20000, 3000);
  pair.fill();
  while (pair.endpoint.protocol->trace() == "made") pair.send_next();
  // Let the kernel take a few at a time: read one datagram per loop iteration.
  std::size_t lowest_at_resume = 0;
  bool resumed = false;
  std::vector<int> got;
  run_until(loop, [&] {
    char buffer[2048];
    if (::recv(pair.peer.fileno(), buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
      got.push_back(std::atoi(buffer));
    }
    if (!resumed && pair.endpoint.protocol->trace() == "made pause resume") {
      resumed = true;
      lowest_at_resume = transport.get_write_buffer_size();
    }
    return got.size() == static_cast<std::size_t>(pair.next);
  });
  EXPECT_TRUE(resumed);
  EXPECT_LE(lowest_at_resume, 3000u);
  EXPECT_GT(lowest_at_resume, 0u)
      << "resume_writing at the low-water mark, with datagrams still queued (asyncio calls "
         "_maybe_resume_protocol after every flush attempt)";
  EXPECT_EQ(got, iota(pair.next));
  close_and_wait(loop, pair.endpoint);
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made pause resume lost");
}

TEST(DatagramFlowControlTest, ResumeWritingMaySendMoreAndEverythingArrivesInOrder) {
  EventLoop loop;
  FullPair pair(loop);
  DatagramTransport& transport = *pair.endpoint.transport;
  transport.set_write_buffer_limits(4000, 0);
  // resume_writing() sends a burst, three times: the kernel takes some at once, the rest is
  // queued behind them (and may pause the protocol again).
  int bursts = 0;
  pair.endpoint.protocol->on_resume = [&] {
    if (bursts++ < 3) {
      for (int i = 0; i < 12; ++i) pair.send_next();
    }
  };
  pair.fill();
  while (pair.endpoint.protocol->trace() == "made") pair.send_next();
  std::vector<int> got;
  run_until(loop, [&] {
    for (int number : pair.drain()) got.push_back(number);
    return bursts >= 3 && transport.get_write_buffer_size() == 0 &&
           got.size() == static_cast<std::size_t>(pair.next);
  });
  EXPECT_EQ(got, iota(pair.next)) << "every datagram, in order, across the bursts";
  int pauses = 0, resumes = 0;
  for (const std::string& event : pair.endpoint.protocol->events) {
    pauses += event == "pause";
    resumes += event == "resume";
  }
  EXPECT_GE(pauses, 1);
  EXPECT_EQ(pauses, resumes) << pair.endpoint.protocol->trace();
  close_and_wait(loop, pair.endpoint);
}

TEST(DatagramFlowControlTest, CloseFlushesTheQueueFirstAndAcceptsSendsUntilLost) {
  EventLoop loop;
  FullPair pair(loop);
  pair.fill();
  pair.send_next();
  pair.endpoint.transport->close();
  EXPECT_TRUE(pair.endpoint.transport->is_closing());
  // asyncio appends to the queue while it is being flushed (_conn_lost is still 0).
  pair.send_next();
  EXPECT_EQ(pair.endpoint.transport->get_write_buffer_size(), 3000u);
  std::vector<int> got;
  run_until(loop, [&] {
    for (int number : pair.drain()) got.push_back(number);
    return pair.endpoint.protocol->lost();
  });
  for (int number : pair.drain()) got.push_back(number);
  EXPECT_EQ(got, iota(pair.next)) << "close() flushes every queued datagram first";
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made lost");
}

TEST(DatagramFlowControlTest, SendsAfterCloseAreDroppedWithAWarningFromTheFifth) {
  for (bool connected : {true, false}) {
    SCOPED_TRACE(connected ? "connected" : "unconnected");
    EventLoop loop;
    Socket peer = udp_socket("127.0.0.1");
    SocketAddress peer_address = peer.getsockname();
    Endpoint endpoint = open_endpoint(
        loop, connected ? remote_addr("127.0.0.1", peer_address.port()) : local_addr("127.0.0.1"));
    endpoint.transport->close();
    testing::LogCapture log;
    for (int i = 0; i < 4; ++i) endpoint.transport->sendto("before lost", &peer_address);
    run_until(loop, [&] { return endpoint.protocol->lost(); });
    for (int i = 0; i < 3; ++i) endpoint.transport->sendto("after lost", &peer_address);
    int warnings = 0;
    for (const auto& record : log.records()) {
      warnings += record.message.find("socket.send() raised exception.") != std::string::npos;
    }
    EXPECT_EQ(warnings, 3) << "the 5th, 6th and 7th lost sends warn (asyncio's threshold)";
    EXPECT_EQ(receive_data(peer, 50), "<nothing>");
    EXPECT_EQ(endpoint.protocol->trace(), "made lost");
  }
}

TEST(DatagramFlowControlTest, AbortDropsTheQueueAndCloseAfterAbortIsHarmless) {
  EventLoop loop;
  FullPair pair(loop);
  pair.fill();
  int sent = pair.next - 1;  // the last one is queued
  pair.send_next();
  pair.endpoint.transport->abort();
  EXPECT_TRUE(pair.endpoint.transport->is_closing());
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made") << "connection_lost never inside abort()";
  pair.endpoint.transport->close();
  pair.endpoint.transport->abort();
  run_until(loop, [&] { return pair.endpoint.protocol->lost(); });
  for (int i = 0; i < 3; ++i) run_once(loop);
  EXPECT_EQ(pair.drain(), iota(sent)) << "queued datagrams are dropped";
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made lost");
}

TEST(DatagramFlowControlTest, AbortWhileClosingWithAQueue) {
  EventLoop loop;
  FullPair pair(loop);
  pair.fill();
  pair.endpoint.transport->close();
  pair.endpoint.transport->abort();
  EXPECT_EQ(pair.endpoint.transport->get_write_buffer_size(), 0u);
  run_until(loop, [&] { return pair.endpoint.protocol->lost(); });
  for (int i = 0; i < 3; ++i) run_once(loop);
  EXPECT_EQ(pair.endpoint.protocol->trace(), "made lost");
}

// --- Protocol errors and loop close --------------------------------------------------------------

TEST(DatagramTransportTest, CallbacksComeInOrderAndNeverSynchronously) {
  EventLoop loop;
  auto [mine, theirs] = Socket::pair(AF_UNIX, SOCK_DGRAM);
  auto protocol = std::make_shared<DatagramRecorder>();
  internal::Ref<DatagramSocketTransport> transport =
      DatagramSocketTransport::create(loop, std::move(mine), protocol);
  EXPECT_EQ(protocol->trace(), "") << "connection_made is scheduled, not called";
  ASSERT_EQ(::send(theirs.fileno(), "early", 5, 0), 5);
  run_until(loop, [&] { return protocol->datagrams.size() == 1; });
  EXPECT_EQ(protocol->trace(), "made dgram") << "reading starts after connection_made";
  transport->close();
  EXPECT_EQ(protocol->trace(), "made dgram") << "connection_lost never inside close()";
  ASSERT_EQ(::send(theirs.fileno(), "late", 4, 0), 4);
  run_once(loop);
  EXPECT_EQ(protocol->trace(), "made dgram lost") << "nothing is read once closing";
  transport->close();
  transport->abort();
  run_once(loop);
  EXPECT_EQ(protocol->trace(), "made dgram lost");
  EXPECT_FALSE(transport->get_extra_info("socket").has_value());
}

TEST(DatagramTransportTest, ClosedBeforeConnectionMadeStillCallsBothInOrder) {
  EventLoop loop;
  auto [mine, theirs] = Socket::pair(AF_UNIX, SOCK_DGRAM);
  auto protocol = std::make_shared<DatagramRecorder>();
  auto transport = DatagramSocketTransport::create(loop, std::move(mine), protocol);
  transport->close();
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_EQ(protocol->trace(), "made lost");
}

TEST(DatagramTransportTest, AThrowingErrorReceivedIsFatalAndReported) {
  EventLoop loop;
  std::vector<ExceptionContext> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  Endpoint endpoint = open_endpoint(loop, remote_addr("127.0.0.1", closed_udp_port("127.0.0.1")));
  endpoint.protocol->on_error = [](DatagramTransport&, std::exception_ptr) {
    throw ValueError("error_received failed");
  };
  endpoint.transport->sendto("ping");
  run_until(loop, [&] { return endpoint.protocol->lost(); });
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].message, "Fatal error: protocol.error_received() call failed.");
  EXPECT_EQ(endpoint.protocol->trace(),
            "made error:aio::ConnectionRefusedError: [Errno 111] Connection refused "
            "lost:aio::ValueError: error_received failed");
}

TEST(DatagramTransportTest, AThrowingDatagramReceivedGoesToTheLoopAndTheEndpointStaysOpen) {
  EventLoop loop;
  std::vector<ExceptionContext> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  Endpoint endpoint = open_endpoint(loop, local_addr("127.0.0.1"));
  endpoint.protocol->on_datagram = [](DatagramTransport&, const DatagramRecorder::Datagram& d) {
    if (d.data == "bad") throw ValueError("bad datagram");
  };
  Socket peer = udp_socket("127.0.0.1");
  send_raw(peer, "bad", endpoint.sockname());
  run_until(loop, [&] { return !reported.empty(); });
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_TRUE(holds<ValueError>(reported[0].exception));
  EXPECT_FALSE(endpoint.transport->is_closing()) << "as asyncio: not the transport's business";
  send_raw(peer, "good", endpoint.sockname());
  run_until(loop, [&] { return endpoint.protocol->datagrams.size() == 2; });
  close_and_wait(loop, endpoint);
}

TEST(DatagramTransportTest, SetProtocolSwitchesWhereDatagramsGo) {
  EventLoop loop;
  Endpoint endpoint = open_endpoint(loop, local_addr("127.0.0.1"));
  Socket peer = udp_socket("127.0.0.1");
  auto second = std::make_shared<DatagramRecorder>();
  second->connection_made(*endpoint.transport);  // as a protocol handed over would be told
  endpoint.transport->set_protocol(second);
  EXPECT_EQ(endpoint.transport->get_protocol(), second);
  send_raw(peer, "for the second", endpoint.sockname());
  run_until(loop, [&] { return second->datagrams.size() == 1; });
  EXPECT_TRUE(endpoint.protocol->datagrams.empty());
  EXPECT_THROW(endpoint.transport->set_protocol(std::make_shared<Protocol>()), TypeError);
  EXPECT_EQ(endpoint.transport->get_protocol(), second) << "a refused protocol changes nothing";
  endpoint.transport->close();
  run_until(loop, [&] { return second->lost(); });
  EXPECT_EQ(second->trace(), "made dgram lost");
  EXPECT_EQ(endpoint.protocol->trace(), "made") << "connection_lost goes to the current protocol";
}

TEST(DatagramTransportTest, SendtoWithoutAnAddressOnAnUnconnectedEndpointIsAnErrorReceived) {
  // asyncio would raise TypeError from socket.sendto(data, None); here the kernel's
  // EDESTADDRREQ reaches error_received like any other send error.
  EventLoop loop;
  Endpoint endpoint = open_endpoint(loop, local_addr("127.0.0.1"));
  endpoint.transport->sendto("nowhere");
  ASSERT_EQ(endpoint.protocol->errors.size(), 1u);
  EXPECT_EQ(describe_exception(endpoint.protocol->errors[0]),
            "aio::OSError: [Errno 89] Destination address required");
  EXPECT_FALSE(endpoint.transport->is_closing());
  close_and_wait(loop, endpoint);
}

TEST(DatagramTransportTest, ExtraInfoAndRepr) {
  EventLoop loop;
  Socket peer = udp_socket("127.0.0.1");
  Endpoint endpoint = open_endpoint(loop, remote_addr("127.0.0.1", peer.getsockname().port()));
  auto socket = endpoint.socket();
  EXPECT_EQ(endpoint.sockname(), socket->getsockname());
  EXPECT_EQ(std::any_cast<int>(endpoint.transport->get_extra_info("no-such-key", 42)), 42);
  EXPECT_FALSE(endpoint.transport->get_extra_info("no-such-key").has_value());
  std::string repr = endpoint.transport->repr();
  EXPECT_EQ(repr,
            "<DatagramSocketTransport fd=" + std::to_string(socket->fileno()) + " bufsize=0>");
  int fd = socket->fileno();
  EXPECT_THROW(loop.add_reader(fd, [] {}), RuntimeError) << "the endpoint owns its fd";
  close_and_wait(loop, endpoint);
  EXPECT_EQ(endpoint.transport->repr(), "<DatagramSocketTransport closed>");
}

TEST(DatagramTransportTest, ClosingTheLoopClosesAForgottenEndpoint) {
  auto loop = std::make_unique<EventLoop>();
  auto [mine, theirs] = Socket::pair(AF_UNIX, SOCK_DGRAM);
  auto protocol = std::make_shared<DatagramRecorder>();
  internal::Ref<DatagramSocketTransport> transport =
      DatagramSocketTransport::create(*loop, std::move(mine), protocol);
  run_once(*loop);
  testing::LogCapture log;
  loop->close();
  EXPECT_EQ(::send(theirs.fileno(), "x", 1, MSG_DONTWAIT), -1) << "our end was closed";
  transport->sendto("ignored");  // harmless after the loop closed
  transport->close();
  transport->abort();
  transport.reset();
  loop.reset();
  EXPECT_EQ(log.records().size(), 1u);
  EXPECT_EQ(protocol->trace(), "made") << "no callbacks once the loop is closed";
}

TEST(DatagramTransportTest, CancellingCreationWhileResolvingLeaksNothing) {
  Socket silent = udp_socket("127.0.0.1");  // a DNS server that never answers
  int before = open_fd_count();
  int made = 0;
  {
    EventLoop loop;
    dns::Resolver::of(loop, dns::ResolverOptions{.timeout_ms = 5000, .tries = 1})
        .set_servers("127.0.0.1:" + std::to_string(silent.getsockname().port()));
    try {
      run(loop,
          create_datagram_endpoint(loop, recorder_factory(&made), remote_addr("slow.test", 9)),
          0.2);
      ADD_FAILURE() << "a name nobody answers for resolved";
    } catch (const TimeoutError&) {
    }
    run_once(loop);
  }
  EXPECT_EQ(made, 0);
  EXPECT_EQ(open_fd_count(), before) << "(the loop and its resolver are gone too)";
}

// --- Real peers ----------------------------------------------------------------------------------

// Sends `request` until `done()` or `timeout` s pass, again every 100 ms: the peer may not be
// listening yet (then ICMP errors reach error_received, which is not fatal).
template <class Pred>
void send_until(EventLoop& loop, DatagramTransport& transport, const std::string& request,
                Pred done, double timeout = 10) {
  auto body = [&]() -> Coro<void> {
    while (!done()) {
      transport.sendto(request);
      for (int i = 0; i < 100 && !done(); ++i) co_await sleep(0.001);
    }
  };
  try {
    loop.run_until_complete(aio::wait_for(body(), timeout));
  } catch (const TimeoutError&) {
    ADD_FAILURE() << "no answer to '" << request << "' within " << timeout << " s";
  }
}

TEST(DatagramPeersTest, SocatUdpEchoKeepsEveryDatagram) {
  if (!installed("socat")) GTEST_SKIP() << "socat is not installed";
  EventLoop loop;
  int port = testing::free_loopback_port();
  // One child per datagram, each echoing it back through a pipe to its sender.
  PeerProcess socat(
      {"socat", "UDP4-RECVFROM:" + std::to_string(port) + ",bind=127.0.0.1,fork", "PIPE"});
  Endpoint endpoint = open_endpoint(loop, remote_addr("127.0.0.1", port));
  DatagramRecorder& protocol = *endpoint.protocol;
  send_until(loop, *endpoint.transport, "ready?", [&] { return !protocol.datagrams.empty(); });
  std::size_t first = protocol.datagrams.size();
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    expected.push_back("datagram " + std::to_string(i) + std::string(i * 50, 'x'));
    endpoint.transport->sendto(expected.back());
  }
  std::vector<std::string> echoed;
  run_until(loop, [&] {
    echoed.clear();
    for (std::size_t i = first; i < protocol.datagrams.size(); ++i) {
      if (protocol.datagrams[i].data != "ready?") echoed.push_back(protocol.datagrams[i].data);
    }
    return echoed.size() >= expected.size();
  });
  std::sort(echoed.begin(), echoed.end());  // one child each: replies may overtake each other
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(echoed, expected);
  for (const auto& datagram : protocol.datagrams) {
    EXPECT_EQ(datagram.from, SocketAddress::ipv4("127.0.0.1", static_cast<std::uint16_t>(port)));
  }
  close_and_wait(loop, endpoint);
  EXPECT_TRUE(socat.running()) << "socat is still serving (stopped by PeerProcess)";
}

TEST(DatagramPeersTest, SocatUnixDatagramEcho) {
  if (!installed("socat")) GTEST_SKIP() << "socat is not installed";
  EventLoop loop;
  TempDir dir;
  std::string server = dir.file("echo");
  PeerProcess socat({"socat", "UNIX-RECVFROM:" + server + ",fork", "PIPE"});
  // socat answers to the sender's address: the endpoint is bound.
  Endpoint endpoint = open_endpoint(loop, unix_options(dir.file("client"), std::nullopt));
  DatagramRecorder& protocol = *endpoint.protocol;
  SocketAddress server_address = SocketAddress::unix_path(server);
  auto body = [&]() -> Coro<void> {
    while (protocol.datagrams.empty()) {
      if (is_socket_file(server)) endpoint.transport->sendto("ready?", &server_address);
      co_await sleep(0.05);
    }
  };
  run(loop, body());
  std::size_t first = protocol.datagrams.size();
  for (int i = 0; i < 5; ++i) {
    endpoint.transport->sendto("unix " + std::to_string(i), &server_address);
  }
  run_until(loop, [&] {
    std::size_t echoes = 0;
    for (std::size_t i = first; i < protocol.datagrams.size(); ++i) {
      echoes += protocol.datagrams[i].data != "ready?";
    }
    return echoes == 5;
  });
  std::vector<std::string> echoed;
  for (const auto& datagram : protocol.datagrams) {
    EXPECT_EQ(datagram.from.path(), server);
    if (datagram.data != "ready?") echoed.push_back(datagram.data);
  }
  std::sort(echoed.begin(), echoed.end());
  EXPECT_EQ(echoed, (std::vector<std::string>{"unix 0", "unix 1", "unix 2", "unix 3", "unix 4"}));
  close_and_wait(loop, endpoint);
}

// memcached's UDP frame: request id, sequence number 0, total datagrams 1, reserved 0.
std::string memcached_frame(std::uint16_t id, const std::string& body) {
  std::string frame(8, '\0');
  frame[0] = static_cast<char>(id >> 8);
  frame[1] = static_cast<char>(id & 0xff);
  frame[5] = 1;
  return frame + body;
}

TEST(DatagramPeersTest, MemcachedOverUdp) {
  if (!installed("memcached")) GTEST_SKIP() << "memcached is not installed";
  EventLoop loop;
  int port = testing::free_loopback_port();
  PeerProcess memcached(
      {"memcached", "-U", std::to_string(port), "-p", "0", "-l", "127.0.0.1", "-u", "root"},
      /*quiet=*/true);
  Endpoint endpoint = open_endpoint(loop, remote_addr("127.0.0.1", port));
  DatagramRecorder& protocol = *endpoint.protocol;
  auto reply_to = [&](std::uint16_t id) -> std::optional<std::string> {
    for (const auto& datagram : protocol.datagrams) {
      if (datagram.data.size() >= 8 && datagram.data.compare(0, 8, memcached_frame(id, "")) == 0) {
        return datagram.data.substr(8);
      }
    }
    return std::nullopt;
  };
  // The first request is repeated until memcached is up (a repeated set is harmless).
  send_until(loop, *endpoint.transport, memcached_frame(1, "set k 0 0 5\r\nhello\r\n"),
             [&] { return reply_to(1).has_value(); });
  EXPECT_EQ(reply_to(1).value_or("<none>"), "STORED\r\n");
  endpoint.transport->sendto(memcached_frame(2, "get k\r\n"));
  run_until(loop, [&] { return reply_to(2).has_value(); });
  EXPECT_EQ(reply_to(2).value_or("<none>"), "VALUE k 0 5\r\nhello\r\nEND\r\n");
  endpoint.transport->sendto(memcached_frame(3, "get missing\r\n"));
  run_until(loop, [&] { return reply_to(3).has_value(); });
  EXPECT_EQ(reply_to(3).value_or("<none>"), "END\r\n");
  for (std::exception_ptr error : protocol.errors) {
    EXPECT_TRUE(holds<ConnectionRefusedError>(error)) << describe_exception(error);
  }
  close_and_wait(loop, endpoint);
  EXPECT_FALSE(protocol.lost_error);
}

TEST(DatagramPeersTest, NcUdpListenerGetsTheDatagramAndAnswers) {
  if (!installed("nc")) GTEST_SKIP() << "nc is not installed";
  EventLoop loop;
  TempDir dir;
  int port = testing::free_loopback_port();
  std::ofstream(dir.file("answer")) << "answer from nc\n";
  // nc -u -l answers (its stdin) to the first sender, and writes what it receives to a file.
  PeerProcess nc({"/bin/sh", "-c",
                  "exec nc -u -l 127.0.0.1 " + std::to_string(port) + " < " + dir.file("answer") +
                      " > " + dir.file("got")});
  Endpoint endpoint = open_endpoint(loop, remote_addr("127.0.0.1", port));
  send_until(loop, *endpoint.transport, "hello nc\n",
             [&] { return !endpoint.protocol->datagrams.empty(); });
  ASSERT_FALSE(endpoint.protocol->datagrams.empty());
  EXPECT_EQ(endpoint.protocol->datagrams[0].data, "answer from nc\n");
  run_until(loop, [&] {
    std::ifstream in(dir.file("got"));
    std::string line;
    return std::getline(in, line) && line == "hello nc";
  });
  close_and_wait(loop, endpoint);
}

}  // namespace
}  // namespace aio
