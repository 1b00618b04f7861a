// The rules every transport shares (net/fd_transport.h for the fd kinds), checked the same way
// against each kind: SocketTransport, DatagramSocketTransport, ReadPipeTransport,
// WritePipeTransport, and //testing's in-memory MemoryTransport (as uvloop runs one test mixin
// against two loops). What a kind does differently (which peer event ends it, the warning for
// writes after a loss, whether it has an fd) is a field of its Kind below.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <any>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "net/address.h"
#include "net/datagram_transport.h"
#include "net/file.h"
#include "net/pipe_transport.h"
#include "net/socket.h"
#include "net/socket_transport.h"
#include "testing/loop_test_util.h"
#include "testing/memory_datagram_transport.h"
#include "testing/memory_transport.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using testing::LogCapture;
using testing::RecordingProtocol;
using testing::run_until;

void run_once(EventLoop& loop) { loop.run_until_complete(sleep(0)); }

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// RecordingProtocol's checks for a datagram endpoint: connection_made once and first,
// connection_lost once and last, pause/resume alternating.
class DatagramRecorder : public DatagramProtocol {
 public:
  void connection_made(DatagramTransport&) override {
    EXPECT_TRUE(events.empty()) << "connection_made must come first, once";
    events.push_back("made");
  }
  void datagram_received(std::span<const std::byte>, const SocketAddress&) override {
    if (events.back() != "data") events.push_back("data");
  }
  void connection_lost(std::exception_ptr error) override {
    EXPECT_FALSE(lost_) << "connection_lost twice";
    lost_ = true;
    events.push_back(error ? "lost:" + describe_exception(error) : "lost");
    if (on_lost) on_lost(error);
  }
  void pause_writing() override {
    EXPECT_FALSE(paused_);
    paused_ = true;
    events.push_back("pause");
  }
  void resume_writing() override {
    EXPECT_TRUE(paused_);
    paused_ = false;
    events.push_back("resume");
  }
  std::string trace() const {
    std::string text;
    for (const std::string& event : events) text += (text.empty() ? "" : " ") + event;
    return text;
  }
  bool lost() const { return lost_; }

  std::vector<std::string> events;
  std::function<void(std::exception_ptr)> on_lost;

 private:
  bool lost_ = false;
  bool paused_ = false;
};

// One transport under test and the test's end of it.
template <class Recorder>
struct Endpoint {
  std::shared_ptr<Recorder> protocol = std::make_shared<Recorder>();
  internal::Ref<BaseTransport> transport;
  int fd = -1;  // the transport's fd (-1: a kind without one)
  // The other end: close it; let it read (true) or stop reading (false).
  std::function<void()> close_peer;
  std::function<void(EventLoop&, bool)> peer_reads;
  // Write-side operations (empty for a read-only transport).
  std::function<void(std::span<const std::byte>)> write;
  std::function<void()> abort;
  std::function<void(std::size_t)> set_high_water;
  std::function<std::size_t()> buffered;
};

std::pair<int, int> socket_pair(int type) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {fds[0], fds[1]};
}

// The other end is a plain fd: closing it, and reading whatever arrives on it.
template <class Recorder>
void bind_fd_peer(Endpoint<Recorder>& endpoint, File peer) {
  auto file = std::make_shared<File>(std::move(peer));
  endpoint.close_peer = [file] { file->close(); };
  endpoint.peer_reads = [file](EventLoop& loop, bool reads) {
    if (!reads) {
      loop.remove_reader(file->fileno());
      return;
    }
    loop.add_reader(file->fileno(), [file] {
      char sink[65536];
      while (::read(file->fileno(), sink, sizeof sink) > 0) {
      }
    });
  };
}

template <class Recorder, class T>
void bind_writes(Endpoint<Recorder>& endpoint, const internal::Ref<T>& transport) {
  T* raw = transport.get();
  endpoint.abort = [raw] { raw->abort(); };
  endpoint.set_high_water = [raw](std::size_t high) { raw->set_write_buffer_limits(high); };
  endpoint.buffered = [raw] { return raw->get_write_buffer_size(); };
}

struct SocketKind {
  using Recorder = RecordingProtocol;
  using Transport = SocketTransport;
  static constexpr const char* kLostWriteWarning = "socket.send() raised exception.";
  // Warnings for 7 writes after abort(): _force_close counts as the first lost write, and
  // asyncio warns from the fifth lost write on.
  static constexpr int kWarningsAfterAbort = 3;
  // What the protocol sees when the peer closes its end.
  static constexpr const char* kPeerGoneTrace = "made eof lost";
  static Endpoint<Recorder> make(EventLoop& loop) {
    Endpoint<Recorder> endpoint;
    auto [mine, theirs] = socket_pair(SOCK_STREAM);
    bind_fd_peer(endpoint, File(theirs));
    endpoint.fd = mine;
    auto transport = SocketTransport::create(loop, Socket(mine), endpoint.protocol);
    endpoint.write = [raw = transport.get()](std::span<const std::byte> data) { raw->write(data); };
    bind_writes(endpoint, transport);
    endpoint.transport = transport;
    return endpoint;
  }
};

struct DatagramKind {
  using Recorder = DatagramRecorder;
  using Transport = DatagramSocketTransport;
  static constexpr const char* kLostWriteWarning = "socket.send() raised exception.";
  static constexpr int kWarningsAfterAbort = 3;
  static constexpr const char* kPeerGoneTrace = nullptr;  // a datagram peer leaving says nothing
  static Endpoint<Recorder> make(EventLoop& loop) {
    Endpoint<Recorder> endpoint;
    auto [mine, theirs] = socket_pair(SOCK_DGRAM);
    bind_fd_peer(endpoint, File(theirs));
    endpoint.fd = mine;
    auto transport = DatagramSocketTransport::create(loop, Socket(mine), endpoint.protocol);
    endpoint.write = [raw = transport.get()](std::span<const std::byte> data) {
      raw->sendto(data);
    };
    bind_writes(endpoint, transport);
    endpoint.transport = transport;
    return endpoint;
  }
};

std::pair<File, File> nonblocking_pipe() {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  return {File(fds[0]), File(fds[1])};
}

struct ReadPipeKind {
  using Recorder = RecordingProtocol;
  using Transport = ReadPipeTransport;
  static constexpr const char* kLostWriteWarning = nullptr;  // it does not write
  static constexpr int kWarningsAfterAbort = 0;
  static constexpr const char* kPeerGoneTrace = "made eof lost";
  static Endpoint<Recorder> make(EventLoop& loop) {
    Endpoint<Recorder> endpoint;
    auto [reader, writer] = nonblocking_pipe();
    bind_fd_peer(endpoint, std::move(writer));
    endpoint.fd = reader.fileno();
    endpoint.transport = ReadPipeTransport::create(loop, reader, endpoint.protocol);
    return endpoint;
  }
};

struct WritePipeKind {
  using Recorder = RecordingProtocol;
  using Transport = WritePipeTransport;
  static constexpr const char* kLostWriteWarning =
      "pipe closed by peer or os.write(pipe, data) raised exception.";
  // A pipe's abort() is _close(None), which counts no lost write: only writes 6 and 7 warn.
  static constexpr int kWarningsAfterAbort = 2;
  static constexpr const char* kPeerGoneTrace = "made lost";  // idle writer: no error
  static Endpoint<Recorder> make(EventLoop& loop) {
    Endpoint<Recorder> endpoint;
    auto [reader, writer] = nonblocking_pipe();
    bind_fd_peer(endpoint, std::move(reader));
    endpoint.fd = writer.fileno();
    auto transport = WritePipeTransport::create(loop, writer, endpoint.protocol);
    endpoint.write = [raw = transport.get()](std::span<const std::byte> data) { raw->write(data); };
    bind_writes(endpoint, transport);
    endpoint.transport = transport;
    return endpoint;
  }
};

struct MemoryKind {
  using Recorder = RecordingProtocol;
  using Transport = testing::MemoryTransport;
  static constexpr const char* kLostWriteWarning = "socket.send() raised exception.";
  static constexpr int kWarningsAfterAbort = 3;  // as a socket transport
  static constexpr const char* kPeerGoneTrace = "made eof lost";
  static Endpoint<Recorder> make(EventLoop& loop) {
    Endpoint<Recorder> endpoint;
    auto [mine, theirs] =
        testing::MemoryTransport::pair(loop, endpoint.protocol, std::make_shared<Recorder>());
    endpoint.close_peer = [theirs = theirs] { theirs->close(); };
    endpoint.peer_reads = [theirs = theirs](EventLoop&, bool reads) { theirs->stall(!reads); };
    endpoint.write = [raw = mine.get()](std::span<const std::byte> data) { raw->write(data); };
    bind_writes(endpoint, mine);
    endpoint.transport = mine;
    return endpoint;
  }
};

struct MemoryDatagramKind {
  using Recorder = DatagramRecorder;
  using Transport = testing::MemoryDatagramTransport;
  static constexpr const char* kLostWriteWarning = "socket.send() raised exception.";
  static constexpr int kWarningsAfterAbort = 3;
  static constexpr const char* kPeerGoneTrace = nullptr;  // as a datagram socket: nothing
  static Endpoint<Recorder> make(EventLoop& loop) {
    Endpoint<Recorder> endpoint;
    auto [mine, theirs] = testing::MemoryDatagramTransport::pair(loop, endpoint.protocol,
                                                                 std::make_shared<Recorder>());
    endpoint.close_peer = [theirs = theirs] { theirs->close(); };
    endpoint.peer_reads = [theirs = theirs](EventLoop&, bool reads) { theirs->stall(!reads); };
    endpoint.write = [raw = mine.get()](std::span<const std::byte> data) { raw->sendto(data); };
    bind_writes(endpoint, mine);
    endpoint.transport = mine;
    return endpoint;
  }
};

template <class Kind>
class TransportContractTest : public ::testing::Test {
 protected:
  EventLoop loop;
};

using Kinds = ::testing::Types<SocketKind, DatagramKind, ReadPipeKind, WritePipeKind, MemoryKind,
                               MemoryDatagramKind>;
TYPED_TEST_SUITE(TransportContractTest, Kinds);

TYPED_TEST(TransportContractTest, ConnectionMadeIsScheduledAndCloseLosesTheConnectionOnce) {
  auto endpoint = TypeParam::make(this->loop);
  EXPECT_EQ(endpoint.protocol->trace(), "") << "connection_made is scheduled, not called";
  run_once(this->loop);
  EXPECT_EQ(endpoint.protocol->trace(), "made");
  EXPECT_FALSE(endpoint.transport->is_closing());
  endpoint.transport->close();
  endpoint.transport->close();
  EXPECT_TRUE(endpoint.transport->is_closing());
  EXPECT_EQ(endpoint.protocol->trace(), "made") << "connection_lost never inside close()";
  if (endpoint.fd >= 0) {
    EXPECT_TRUE(fd_is_open(endpoint.fd)) << "closes after connection_lost";
  }
  run_once(this->loop);
  EXPECT_EQ(endpoint.protocol->trace(), "made lost");
  if (endpoint.fd >= 0) {
    EXPECT_FALSE(fd_is_open(endpoint.fd));
  }
  endpoint.transport->close();
  run_once(this->loop);
  EXPECT_EQ(endpoint.protocol->trace(), "made lost");
}

TYPED_TEST(TransportContractTest, CloseBeforeConnectionMadeStillCallsBothInOrder) {
  auto endpoint = TypeParam::make(this->loop);
  endpoint.transport->close();
  run_until(this->loop, [&] { return endpoint.protocol->lost(); });
  EXPECT_EQ(endpoint.protocol->trace(), "made lost");
}

TYPED_TEST(TransportContractTest, AbortLosesTheConnectionOnceAndLaterWritesAreDropped) {
  auto endpoint = TypeParam::make(this->loop);
  if (!endpoint.abort) GTEST_SKIP() << "a read-only transport has no abort()";
  run_once(this->loop);
  LogCapture logs;
  endpoint.abort();
  endpoint.abort();
  endpoint.transport->close();
  const std::byte byte{'x'};
  for (int i = 0; i < 7; ++i) endpoint.write(std::span(&byte, 1));  // dropped, never thrown
  run_once(this->loop);
  EXPECT_EQ(endpoint.protocol->trace(), "made lost");
  if (endpoint.fd >= 0) {
    EXPECT_FALSE(fd_is_open(endpoint.fd));
  }
  int warnings = 0;
  for (const auto& record : logs.records()) {
    if (record.message == TypeParam::kLostWriteWarning) ++warnings;
  }
  EXPECT_EQ(warnings, TypeParam::kWarningsAfterAbort);
}

TYPED_TEST(TransportContractTest, ClosingTheLoopClosesTheFdWithoutCallbacks) {
  auto loop = std::make_unique<EventLoop>();
  auto endpoint = TypeParam::make(*loop);
  run_once(*loop);
  LogCapture logs;
  loop->close();
  EXPECT_EQ(endpoint.protocol->trace(), "made") << "no protocol callback from loop.close()";
  EXPECT_FALSE(fd_is_open(endpoint.fd));
  EXPECT_TRUE(endpoint.transport->is_closing());
  bool warned = false;
  for (const auto& record : logs.records()) {
    warned |= record.level == LogLevel::kWarning &&
              record.message.starts_with("unclosed transport <") &&
              record.message.ends_with("> closed with its loop");
  }
  EXPECT_TRUE(warned);
  endpoint.transport->close();  // harmless afterwards
}

TYPED_TEST(TransportContractTest, TheFdBelongsToTheTransportWhileOpen) {
  auto endpoint = TypeParam::make(this->loop);
  if (endpoint.fd < 0) {
    endpoint.transport->close();
    run_until(this->loop, [&] { return endpoint.protocol->lost(); });
    GTEST_SKIP() << "a transport without an fd";
  }
  try {
    this->loop.add_reader(endpoint.fd, [] {});
    ADD_FAILURE() << "add_reader on a transport's fd must be refused";
  } catch (const RuntimeError& error) {
    EXPECT_EQ(
        std::string(error.what())
            .rfind("File descriptor " + std::to_string(endpoint.fd) + " is used by transport <", 0),
        0u)
        << error.what();
  }
  endpoint.transport->close();
  run_until(this->loop, [&] { return endpoint.protocol->lost(); });
}

TYPED_TEST(TransportContractTest, UnknownExtraInfoGivesTheDefault) {
  auto endpoint = TypeParam::make(this->loop);
  std::any value = endpoint.transport->get_extra_info("no such key", 42);
  EXPECT_EQ(std::any_cast<int>(value), 42);
  EXPECT_FALSE(endpoint.transport->get_extra_info("no such key").has_value());
  endpoint.transport->close();
  run_until(this->loop, [&] { return endpoint.protocol->lost(); });
}

TYPED_TEST(TransportContractTest, TheTransportNamesItsKindAndFd) {
  auto endpoint = TypeParam::make(this->loop);
  std::string repr = endpoint.transport->repr();
  EXPECT_EQ(repr.rfind("<", 0), 0u) << repr;
  if (endpoint.fd >= 0) {
    EXPECT_NE(repr.find("fd=" + std::to_string(endpoint.fd)), std::string::npos) << repr;
  }
  endpoint.transport->close();
  run_until(this->loop, [&] { return endpoint.protocol->lost(); });
  EXPECT_NE(endpoint.transport->repr().find(" closed>"), std::string::npos)
      << endpoint.transport->repr();
}

TYPED_TEST(TransportContractTest, WritesPauseOnceAboveHighAndResumeOnceDrained) {
  auto endpoint = TypeParam::make(this->loop);
  if (!endpoint.write) GTEST_SKIP() << "a read-only transport has no write side";
  run_once(this->loop);
  endpoint.peer_reads(this->loop, false);
  endpoint.set_high_water(8192);
  const std::vector<std::byte> chunk(1024, std::byte{'z'});
  // The peer does not read: the kernel's buffer fills, then ours grows past the high mark.
  for (int i = 0; i < 100000 && endpoint.protocol->trace() == "made"; ++i) endpoint.write(chunk);
  ASSERT_EQ(endpoint.protocol->trace(), "made pause");
  EXPECT_GT(endpoint.buffered(), 8192u);
  // Now the peer reads everything; the buffer drains and resume_writing comes once.
  endpoint.peer_reads(this->loop, true);
  run_until(this->loop, [&] { return endpoint.buffered() == 0; });
  endpoint.peer_reads(this->loop, false);
  EXPECT_EQ(endpoint.protocol->trace(), "made pause resume");
  endpoint.transport->close();
  run_until(this->loop, [&] { return endpoint.protocol->lost(); });
}

TYPED_TEST(TransportContractTest, ThePeerLeavingEndsTheConnection) {
  if (TypeParam::kPeerGoneTrace == nullptr) GTEST_SKIP() << "nothing tells a datagram endpoint";
  auto endpoint = TypeParam::make(this->loop);
  run_once(this->loop);
  endpoint.close_peer();
  run_until(this->loop, [&] { return endpoint.protocol->lost(); });
  EXPECT_EQ(endpoint.protocol->trace(), TypeParam::kPeerGoneTrace);
  if (endpoint.fd >= 0) {
    EXPECT_FALSE(fd_is_open(endpoint.fd));
  }
}

TYPED_TEST(TransportContractTest, AThrowingConnectionLostStillReleasesTheFd) {
  auto endpoint = TypeParam::make(this->loop);
  endpoint.protocol->on_lost = [](std::exception_ptr) { throw ValueError("from connection_lost"); };
  std::vector<std::string> reported;
  this->loop.set_exception_handler([&](EventLoop&, const ExceptionContext& context) {
    reported.push_back(context.exception ? describe_exception(context.exception) : "-");
  });
  run_once(this->loop);
  endpoint.transport->close();
  run_until(this->loop, [&] { return endpoint.protocol->lost(); });
  run_once(this->loop);
  if (endpoint.fd >= 0) {
    EXPECT_FALSE(fd_is_open(endpoint.fd));
  }
  EXPECT_EQ(reported, std::vector<std::string>{"aio::ValueError: from connection_lost"});
  EXPECT_TRUE(endpoint.transport->is_closing());
}

}  // namespace
}  // namespace aio
