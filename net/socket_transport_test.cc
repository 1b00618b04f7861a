// SocketTransport against asyncio's rules, on socketpairs and loopback TCP. Every test uses
// RecordingProtocol, which fails the test on any breach of the callback contract.
#include "net/socket_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "testing/loop_test_util.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using testing::read_some;
using testing::RecordingProtocol;
using testing::run_until;

// Runs the loop until `done()` or 10 s (then the test fails).
void run_once(EventLoop& loop) { loop.run_until_complete(sleep(0)); }

using Limits = std::pair<std::size_t, std::size_t>;

// A transport on one end of a UNIX socketpair; the test holds the other end.
struct Pair {
  explicit Pair(EventLoop& loop, std::shared_ptr<RecordingProtocol> p = nullptr)
      : protocol(p ? p : std::make_shared<RecordingProtocol>()) {
    auto [mine, theirs] = Socket::pair();
    peer = std::move(theirs);
    transport = SocketTransport::create(loop, std::move(mine), protocol);
  }
  std::shared_ptr<RecordingProtocol> protocol;
  internal::Ref<SocketTransport> transport;
  Socket peer;
};

TEST(SocketTransportTest, CallbacksComeInOrderAndNeverSynchronously) {
  EventLoop loop;
  Pair pair(loop);
  EXPECT_EQ(pair.protocol->trace(), "") << "connection_made is scheduled, not called";
  run_once(loop);
  EXPECT_EQ(pair.protocol->trace(), "made");
  ::send(pair.peer.fileno(), "hello", 5, 0);
  run_until(loop, [&] { return pair.protocol->received == "hello"; });
  pair.transport->close();
  EXPECT_TRUE(pair.transport->is_closing());
  EXPECT_EQ(pair.protocol->trace(), "made data") << "connection_lost never inside close()";
  run_once(loop);
  EXPECT_EQ(pair.protocol->trace(), "made data lost");
  pair.transport->close();  // idempotent
  pair.transport->abort();
  run_once(loop);
  EXPECT_EQ(pair.protocol->trace(), "made data lost");
  EXPECT_EQ(read_some(pair.peer.fileno()), "");
}

TEST(SocketTransportTest, PeerEofClosesUnlessTheProtocolKeepsItOpen) {
  EventLoop loop;
  {
    Pair pair(loop);
    ::shutdown(pair.peer.fileno(), SHUT_WR);
    run_until(loop, [&] { return pair.protocol->lost(); });
    EXPECT_EQ(pair.protocol->trace(), "made eof lost");
  }
  {
    Pair pair(loop);
    pair.protocol->on_eof = [](Transport& transport) {
      transport.write("bye");  // the write side is still open
      return true;
    };
    ::send(pair.peer.fileno(), "x", 1, 0);
    ::shutdown(pair.peer.fileno(), SHUT_WR);
    run_until(loop, [&] { return pair.protocol->state() == RecordingProtocol::State::kEof; });
    run_once(loop);
    EXPECT_FALSE(pair.protocol->lost());
    EXPECT_EQ(read_some(pair.peer.fileno()), "bye");
    pair.transport->close();
    run_until(loop, [&] { return pair.protocol->lost(); });
    EXPECT_EQ(pair.protocol->trace(), "made data eof lost");
  }
}

TEST(SocketTransportTest, CloseFlushesAbortDiscards) {
  EventLoop loop;
  std::string big(4 << 20, 'x');  // more than a socketpair holds
  {
    Pair pair(loop);
    run_once(loop);
    pair.transport->write(big);
    EXPECT_GT(pair.transport->get_write_buffer_size(), 0u);
    pair.transport->close();
    std::string got;
    run_until(loop, [&] {
      got += read_some(pair.peer.fileno());
      return pair.protocol->lost();
    });
    for (std::string more = read_some(pair.peer.fileno()); !more.empty();
         more = read_some(pair.peer.fileno())) {
      got += more;
    }
    EXPECT_EQ(got.size(), big.size()) << "close() flushes everything first";
    EXPECT_EQ(pair.protocol->trace(), "made pause resume lost");
  }
  {
    Pair pair(loop);
    run_once(loop);
    pair.transport->write(big);
    pair.transport->abort();
    EXPECT_EQ(pair.transport->get_write_buffer_size(), 0u);
    run_once(loop);
    EXPECT_TRUE(pair.protocol->lost());
    EXPECT_EQ(pair.protocol->lost_error, nullptr);
  }
}

TEST(SocketTransportTest, WriteEofWaitsForTheBufferAndIsIdempotent) {
  EventLoop loop;
  Pair pair(loop);
  run_once(loop);
  std::string big(2 << 20, 'y');
  pair.transport->write(big);
  ASSERT_TRUE(pair.transport->can_write_eof());
  pair.transport->write_eof();
  pair.transport->write_eof();
  EXPECT_EQ(testing::error_message([&] { pair.transport->write("more"); }),
            "Cannot call write() after write_eof()");
  std::string got;
  bool eof = false;
  run_until(loop, [&] {
    char buffer[65536];
    ssize_t n = ::recv(pair.peer.fileno(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) got.append(buffer, static_cast<size_t>(n));
    eof = n == 0;
    return eof;
  });
  EXPECT_EQ(got.size(), big.size());
  EXPECT_FALSE(pair.protocol->lost()) << "write_eof closes only the write side";
  pair.transport->close();
  run_until(loop, [&] { return pair.protocol->lost(); });
}

TEST(SocketTransportTest, WritesAfterCloseAreDroppedWithAWarningFromTheFifth) {
  EventLoop loop;
  Pair pair(loop);
  run_once(loop);
  pair.transport->close();
  run_once(loop);
  testing::LogCapture log;
  for (int i = 0; i < 7; ++i) pair.transport->write("late");
  int warnings = 0;
  for (const auto& record : log.records()) {
    warnings += record.message.find("socket.send() raised exception.") != std::string::npos;
  }
  EXPECT_EQ(warnings, 3) << "the 5th, 6th and 7th lost writes warn (asyncio's threshold)";
  EXPECT_EQ(read_some(pair.peer.fileno()), "");
}

TEST(SocketTransportTest, WriteBufferLimitsFollowAsyncio) {
  EventLoop loop;
  Pair pair(loop);
  run_once(loop);
  Transport& transport = *pair.transport;
  EXPECT_EQ(transport.get_write_buffer_limits(), Limits(16384, 65536));
  transport.set_write_buffer_limits(std::nullopt, 100);
  EXPECT_EQ(transport.get_write_buffer_limits(), Limits(100, 400));
  transport.set_write_buffer_limits(1000);
  EXPECT_EQ(transport.get_write_buffer_limits(), Limits(250, 1000));
  EXPECT_EQ(testing::error_message([&] { transport.set_write_buffer_limits(1, 2); }),
            "high (1) must be >= low (2) must be >= 0");
  EXPECT_EQ(transport.get_write_buffer_limits(), Limits(250, 1000));
  transport.close();
  run_once(loop);
}

TEST(SocketTransportTest, PauseAndResumeWritingExactlyOnceEach) {
  EventLoop loop;
  Pair pair(loop);
  run_once(loop);
  Transport& transport = *pair.transport;
  // Fill the kernel first so every later write is buffered.
  std::string chunk(64 << 10, 'z');
  while (transport.get_write_buffer_size() == 0) transport.write(chunk);
  EXPECT_EQ(pair.protocol->trace(), "made");
  transport.set_write_buffer_limits(chunk.size() * 4, chunk.size());
  for (int i = 0; i < 8; ++i) transport.write(chunk);
  EXPECT_EQ(pair.protocol->trace(), "made pause") << "paused once, however many writes";
  std::size_t total = 0;
  run_until(loop, [&] {
    std::string got = read_some(pair.peer.fileno());
    total += got.size();
    return transport.get_write_buffer_size() == 0;
  });
  EXPECT_EQ(pair.protocol->trace(), "made pause resume");
  // Lowering the limits below what is buffered pauses at once.
  while (transport.get_write_buffer_size() == 0) transport.write(chunk);
  transport.set_write_buffer_limits(1, 0);
  EXPECT_EQ(pair.protocol->trace(), "made pause resume pause");
  transport.abort();
  run_once(loop);
}

// asyncio's contexts carry the objects: a handler can compare them with its own, or close the
// transport through them. The descriptions are what the default handler prints.
void expect_transport_and_protocol(const ExceptionContext& context, BaseTransport& transport,
                                   const std::shared_ptr<RecordingProtocol>& protocol,
                                   bool closed_since = false) {
  const auto* reported_transport = context.get<internal::Ref<BaseTransport>>("transport");
  ASSERT_NE(reported_transport, nullptr) << "'transport' holds the transport object";
  EXPECT_EQ(reported_transport->get(), &transport);
  // The description is the transport as it was when reported.
  if (closed_since) {
    EXPECT_EQ(context.details.at("transport").repr.rfind("<SocketTransport fd=", 0), 0u);
  } else {
    EXPECT_EQ(context.details.at("transport").repr, transport.repr());
  }
  const auto* reported_protocol = context.get<std::shared_ptr<BaseProtocol>>("protocol");
  ASSERT_NE(reported_protocol, nullptr) << "'protocol' holds the protocol object";
  EXPECT_EQ(reported_protocol->get(), protocol.get());
  EXPECT_EQ(context.details.at("protocol").repr, "aio::testing::RecordingProtocol");
  EXPECT_EQ(context.get<std::string>("transport"), nullptr) << "typed: no other type matches";
}

// Records every exception-handler call from now on, and writes until the transport buffers (a
// 1-byte high-water mark: the protocol is paused).
void fill_until_buffered(EventLoop& loop, Pair& pair, std::vector<ExceptionContext>& reported) {
  run_once(loop);
  loop.set_exception_handler(
      [&reported](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  pair.transport->set_write_buffer_limits(1, 0);
  std::string chunk(64 << 10, 'z');
  while (pair.transport->get_write_buffer_size() == 0) pair.transport->write(chunk);
}

TEST(SocketTransportTest, ThrowingResumeWritingCarriesTransportAndProtocol) {
  EventLoop loop;
  Pair pair(loop);
  pair.protocol->on_resume = [] { throw ValueError("resume failed"); };
  std::vector<ExceptionContext> reported;
  fill_until_buffered(loop, pair, reported);
  run_until(loop, [&] {
    testing::read_some(pair.peer.fileno());
    return !reported.empty();
  });
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].message, "protocol.resume_writing() failed");
  expect_transport_and_protocol(reported[0], *pair.transport, pair.protocol);
  // The handler may act on the object: close the transport it was given.
  (*reported[0].get<internal::Ref<BaseTransport>>("transport"))->close();
  run_until(loop, [&] { return pair.protocol->lost(); });
}

TEST(SocketTransportTest, ThrowingPauseWritingIsReportedAndTheTransportGoesOn) {
  EventLoop loop;
  Pair pair(loop);
  pair.protocol->on_pause = [] { throw ValueError("pause failed"); };
  std::vector<ExceptionContext> reported;
  fill_until_buffered(loop, pair, reported);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].message, "protocol.pause_writing() failed");
  EXPECT_TRUE(holds<ValueError>(reported[0].exception));
  expect_transport_and_protocol(reported[0], *pair.transport, pair.protocol);
  EXPECT_FALSE(pair.transport->is_closing());
  pair.transport->abort();
  run_once(loop);
}

// A BufferedProtocol that also records, for switching protocols mid-stream.
class Buffered : public BufferedProtocol {
 public:
  std::span<std::byte> get_buffer(std::ptrdiff_t sizehint) override {
    hints.push_back(sizehint);
    if (fail_get_buffer) throw ValueError("no buffer");
    if (empty_buffer) return {};
    return std::span<std::byte>(buffer_, 4);  // small: several calls for one write
  }
  void buffer_updated(std::size_t n) override {
    received.append(reinterpret_cast<char*>(buffer_), n);
  }
  void connection_lost(std::exception_ptr error) override {
    lost = true;
    lost_error = error;
  }
  std::string received;
  bool lost = false, fail_get_buffer = false, empty_buffer = false;
  std::vector<std::ptrdiff_t> hints;  // every sizehint get_buffer was given
  std::exception_ptr lost_error;

 private:
  std::byte buffer_[4];
};

TEST(SocketTransportTest, SwitchingBetweenProtocolAndBufferedProtocolMidStream) {
  EventLoop loop;
  Pair pair(loop);
  run_once(loop);
  ::send(pair.peer.fileno(), "first", 5, 0);
  run_until(loop, [&] { return pair.protocol->received == "first"; });
  auto buffered = std::make_shared<Buffered>();
  pair.transport->set_protocol(buffered);
  EXPECT_EQ(pair.transport->get_protocol(), buffered);
  ::send(pair.peer.fileno(), "second-part", 11, 0);
  run_until(loop, [&] { return buffered->received == "second-part"; });
  ASSERT_FALSE(buffered->hints.empty());
  for (std::ptrdiff_t hint : buffered->hints) EXPECT_EQ(hint, -1) << "CPython 3.8 passes -1";
  pair.transport->set_protocol(pair.protocol);
  ::send(pair.peer.fileno(), "third", 5, 0);
  run_until(loop, [&] { return pair.protocol->received == "firstthird"; });
  pair.transport->close();
  run_until(loop, [&] { return pair.protocol->lost(); });
  EXPECT_FALSE(buffered->lost) << "connection_lost goes to the current protocol only";
}

TEST(SocketTransportTest, BrokenGetBufferAbortsWithAsyncioMessages) {
  for (bool empty : {false, true}) {
    EventLoop loop;
    std::vector<ExceptionContext> reported;
    loop.set_exception_handler(
        [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
    auto [mine, theirs] = Socket::pair();
    auto protocol = std::make_shared<Buffered>();
    (empty ? protocol->empty_buffer : protocol->fail_get_buffer) = true;
    auto transport = SocketTransport::create(loop, std::move(mine), protocol);
    ::send(theirs.fileno(), "data", 4, 0);
    run_until(loop, [&] { return protocol->lost; });
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0].message, "Fatal error: protocol.get_buffer() call failed.");
    EXPECT_EQ(describe_exception(protocol->lost_error),
              empty ? "aio::RuntimeError: get_buffer() returned an empty buffer"
                    : "aio::ValueError: no buffer");
    EXPECT_EQ(reported[0].details.count("transport"), 1u);
  }
}

TEST(SocketTransportTest, ThrowingDataReceivedIsFatalAndReported) {
  EventLoop loop;
  std::vector<ExceptionContext> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  Pair pair(loop);
  pair.protocol->on_data = [](Transport&, std::span<const std::byte>) {
    throw ValueError("bad data");
  };
  ::send(pair.peer.fileno(), "x", 1, 0);
  run_until(loop, [&] { return pair.protocol->lost(); });
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].message, "Fatal error: protocol.data_received() call failed.");
  expect_transport_and_protocol(reported[0], *pair.transport, pair.protocol, /*closed_since=*/true);
  EXPECT_EQ(pair.protocol->trace(), "made data lost:aio::ValueError: bad data");
}

// A connected TCP pair on loopback: (client transport side, accepted raw socket).
std::pair<Socket, Socket> tcp_pair() {
  Socket listener = Socket::create(AF_INET, SOCK_STREAM);
  listener.bind(SocketAddress::ipv4("127.0.0.1", 0));
  listener.listen(1);
  Socket client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress address = listener.getsockname();
  EXPECT_EQ(::connect(client.fileno(), address.data(), address.size()), 0);
  Socket accepted(::accept4(listener.fileno(), nullptr, nullptr, SOCK_CLOEXEC));
  client.setblocking(false);
  return {std::move(client), std::move(accepted)};
}

TEST(SocketTransportTest, ConnectionResetOnlyClosesTheTransport) {
  EventLoop loop;
  std::vector<ExceptionContext> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  auto [client, server] = tcp_pair();
  auto protocol = std::make_shared<RecordingProtocol>();
  auto transport = SocketTransport::create(loop, std::move(client), protocol);
  run_once(loop);
  linger abortive{1, 0};  // close() sends RST
  ::setsockopt(server.fileno(), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  server.close();
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_TRUE(holds<ConnectionResetError>(protocol->lost_error)) << protocol->trace();
  EXPECT_TRUE(reported.empty()) << "OS errors are not the exception handler's business";
}

TEST(SocketTransportTest, ExtraInfoAndTcpNodelay) {
  EventLoop loop;
  auto [client, server] = tcp_pair();
  SocketAddress expected_peer = client.getpeername();
  SocketAddress expected_name = client.getsockname();
  auto protocol = std::make_shared<RecordingProtocol>();
  auto transport = SocketTransport::create(loop, std::move(client), protocol);
  EXPECT_EQ(std::any_cast<SocketAddress>(transport->get_extra_info("peername")), expected_peer);
  EXPECT_EQ(std::any_cast<SocketAddress>(transport->get_extra_info("sockname")), expected_name);
  auto socket = std::any_cast<std::shared_ptr<Socket>>(transport->get_extra_info("socket"));
  EXPECT_EQ(socket->fileno(), transport->fileno());
  EXPECT_EQ(socket->getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_THROW(socket->close(), RuntimeError) << "the view cannot close the transport's socket";
  EXPECT_EQ(std::any_cast<int>(transport->get_extra_info("no-such-key", 42)), 42);
  EXPECT_FALSE(transport->get_extra_info("no-such-key").has_value());
  transport->close();
  run_once(loop);
}

TEST(SocketTransportTest, FdWatchersOnATransportsFdAreRefused) {
  EventLoop loop;
  Pair pair(loop);
  int fd = pair.transport->fileno();
  std::string message = testing::error_message([&] { loop.add_reader(fd, [] {}); });
  EXPECT_EQ(message.rfind("File descriptor " + std::to_string(fd) + " is used by transport <", 0),
            0u)
      << message;
  EXPECT_THROW(loop.add_writer(fd, [] {}), RuntimeError);
  EXPECT_THROW(loop.remove_reader(fd), RuntimeError);
  EXPECT_THROW(loop.remove_writer(fd), RuntimeError);
  pair.transport->close();
  run_once(loop);
  // Once the transport is gone the fd number is no one's: no refusal any more.
  EXPECT_FALSE(loop.remove_reader(fd));
}

TEST(SocketTransportTest, PauseAndResumeReadingAreIdempotent) {
  EventLoop loop;
  Pair pair(loop);
  run_once(loop);
  Transport& transport = *pair.transport;
  EXPECT_TRUE(transport.is_reading());
  transport.pause_reading();
  transport.pause_reading();
  EXPECT_FALSE(transport.is_reading());
  ::send(pair.peer.fileno(), "held", 4, 0);
  for (int i = 0; i < 5; ++i) run_once(loop);
  EXPECT_EQ(pair.protocol->received, "") << "nothing is read while paused";
  transport.resume_reading();
  transport.resume_reading();
  run_until(loop, [&] { return pair.protocol->received == "held"; });
  transport.close();
  transport.pause_reading();  // no-ops once closing
  transport.resume_reading();
  EXPECT_FALSE(transport.is_reading());
  run_once(loop);
}

TEST(SocketTransportTest, ClosingTheLoopClosesForgottenTransports) {
  auto loop = std::make_unique<EventLoop>();
  auto [mine, theirs] = Socket::pair();
  auto protocol = std::make_shared<RecordingProtocol>();
  internal::Ref<SocketTransport> transport =
      SocketTransport::create(*loop, std::move(mine), protocol);
  run_once(*loop);
  testing::LogCapture log;
  loop->close();
  EXPECT_EQ(read_some(theirs.fileno()), "");
  EXPECT_EQ(::recv(theirs.fileno(), nullptr, 0, MSG_DONTWAIT), 0) << "our end was closed";
  transport->write("ignored");  // harmless after the loop closed
  transport->close();
  transport.reset();
  loop.reset();
  EXPECT_EQ(log.records().size(), 1u);
}

}  // namespace
}  // namespace aio
