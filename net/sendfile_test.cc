// sock_sendfile and loop.sendfile: native and fallback give the same bytes, the file position
// ends where the transfer stopped, asyncio's validation and ordering rules.
#include "net/sendfile.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "net/datagram_transport.h"
#include "net/socket_transport.h"
#include "testing/loop_test_util.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using testing::RecordingProtocol;

// A temporary regular file with deterministic contents, removed at the end.
class TempFile {
 public:
  explicit TempFile(std::size_t size)
      : path_("/tmp/aio-sendfile-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter_++)) {
    contents_.resize(size);
    for (std::size_t i = 0; i < size; ++i) contents_[i] = static_cast<char>('a' + (i * 7) % 26);
    File file = File::open(path_, O_WRONLY | O_CREAT | O_TRUNC);
    EXPECT_EQ(::write(file.fileno(), contents_.data(), size), static_cast<ssize_t>(size));
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  File open() const { return File::open(path_, O_RDONLY); }
  const std::string& contents() const { return contents_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
  std::string contents_;
};

// Reads everything from `fd` on a thread until EOF (the peer of the sending side).
class Drain {
 public:
  explicit Drain(Socket sock) : sock_(std::move(sock)) {
    sock_.setblocking(true);
    thread_ = std::thread([this] {
      char buffer[65536];
      for (;;) {
        ssize_t n = ::recv(sock_.fileno(), buffer, sizeof buffer, 0);
        if (n <= 0) break;
        data_.append(buffer, static_cast<size_t>(n));
      }
    });
  }
  // If the test failed before the sender closed, unblock the reader rather than hang.
  ~Drain() {
    if (thread_.joinable()) ::shutdown(sock_.fileno(), SHUT_RDWR);
    join();
  }
  const std::string& join() {
    if (thread_.joinable()) thread_.join();
    return data_;
  }

 private:
  Socket sock_;
  std::thread thread_;
  std::string data_;
};

Coro<std::size_t> send_and_close(EventLoop& loop, Socket& sock, File& file, std::int64_t offset,
                                 std::optional<std::size_t> count, bool fallback) {
  std::size_t sent = co_await sock_sendfile(loop, sock, file, offset, count, fallback);
  ::shutdown(sock.fileno(), SHUT_WR);
  co_return sent;
}

TEST(SockSendfileTest, NativeAndFallbackSendTheSameBytes) {
  EventLoop loop;
  TempFile source(3 << 20);
  for (bool regular : {true, false}) {
    auto [mine, theirs] = Socket::pair();
    Drain drain(std::move(theirs));
    std::size_t sent;
    if (regular) {
      File file = source.open();
      sent =
          loop.run_until_complete(aio::wait_for(send_and_close(loop, mine, file, 0, {}, true), 30));
      EXPECT_EQ(file.tell(), static_cast<std::int64_t>(sent)) << "position = offset + sent";
    } else {
      // A pipe is no regular file: native sendfile is not available, the fallback sends it.
      auto [reader, writer] = File::pipe();
      std::thread feeder([&, w = std::move(writer)]() mutable {
        const std::string& data = source.contents();
        for (std::size_t done = 0; done < data.size();) {
          ssize_t n = ::write(w.fileno(), data.data() + done, data.size() - done);
          if (n <= 0) break;
          done += static_cast<std::size_t>(n);
        }
      });
      sent = loop.run_until_complete(
          aio::wait_for(send_and_close(loop, mine, reader, 0, {}, true), 30));
      feeder.join();
    }
    EXPECT_EQ(sent, source.contents().size());
    EXPECT_TRUE(drain.join() == source.contents()) << (regular ? "native" : "fallback");
  }
}

TEST(SockSendfileTest, OffsetAndCountSendExactlyThatSliceNativeOrNot) {
  EventLoop loop;
  TempFile source(300000);
  struct Case {
    std::int64_t offset;
    std::optional<std::size_t> count;
  } cases[] = {{0, std::nullopt}, {100, 1000}, {12345, 270000}, {299990, std::nullopt}};
  for (bool native : {true, false}) {
    internal::set_native_sendfile_enabled(native);
    for (const Case& c : cases) {
      auto [mine, theirs] = Socket::pair();
      Drain drain(std::move(theirs));
      File file = source.open();
      std::size_t sent = loop.run_until_complete(
          aio::wait_for(send_and_close(loop, mine, file, c.offset, c.count, true), 30));
      std::string expected = c.count ? source.contents().substr(c.offset, *c.count)
                                     : source.contents().substr(c.offset);
      EXPECT_EQ(sent, expected.size());
      EXPECT_TRUE(drain.join() == expected) << (native ? "native " : "fallback ") << c.offset;
      EXPECT_EQ(file.tell(), c.offset + static_cast<std::int64_t>(sent));
    }
    if (!native) {
      auto [mine, theirs] = Socket::pair();
      File file = source.open();
      EXPECT_THROW(loop.run_until_complete(sock_sendfile(loop, mine, file, 0, {}, false)),
                   SendfileNotAvailableError);
    }
  }
  internal::set_native_sendfile_enabled(true);
}

TEST(SockSendfileTest, ValidationErrorsAreAsyncios) {
  EventLoop loop;
  TempFile source(10);
  File file = source.open();
  auto [mine, theirs] = Socket::pair();
  EXPECT_EQ(
      testing::error_message([&] { loop.run_until_complete(sock_sendfile(loop, mine, file, -1)); }),
      "offset must be a non-negative integer (got -1)");
  EXPECT_EQ(testing::error_message(
                [&] { loop.run_until_complete(sock_sendfile(loop, mine, file, 0, 0)); }),
            "count must be a positive integer (got 0)");
  auto [dgram, other] = Socket::pair(AF_UNIX, SOCK_DGRAM);
  EXPECT_EQ(
      testing::error_message([&] { loop.run_until_complete(sock_sendfile(loop, dgram, file)); }),
      "only SOCK_STREAM type sockets are supported");
  auto [reader, writer] = File::pipe();
  EXPECT_THROW(loop.run_until_complete(sock_sendfile(loop, mine, reader, 0, {}, false)),
               SendfileNotAvailableError);
  EXPECT_EQ(testing::error_message(
                [&] { loop.run_until_complete(sock_sendfile(loop, mine, reader, 0, {}, false)); }),
            "not a regular file");
  loop.set_debug(true);
  mine.setblocking(true);
  EXPECT_EQ(
      testing::error_message([&] { loop.run_until_complete(sock_sendfile(loop, mine, file)); }),
      "the socket must be non-blocking");
}

TEST(SockSendfileTest, APeerLeavingMidwayLeavesThePositionAtWhatWasSent) {
  EventLoop loop;
  TempFile source(8 << 20);
  auto [mine, theirs] = Socket::pair();
  mine.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
  File file = source.open();
  // The peer reads a little, then goes away.
  loop.call_later(0.05, [&] {
    char buffer[1000];
    ::recv(theirs.fileno(), buffer, sizeof buffer, MSG_DONTWAIT);
    theirs.close();
  });
  try {
    loop.run_until_complete(aio::wait_for(sock_sendfile(loop, mine, file, 10), 30));
    FAIL() << "the peer left: sendfile must fail";
  } catch (const OSError& e) {
    EXPECT_TRUE(e.err() == EPIPE || e.err() == ECONNRESET) << e.what();
  }
  std::int64_t position = file.tell();
  EXPECT_GT(position, 10) << "something was sent before the peer left";
  EXPECT_LT(position, 10 + static_cast<std::int64_t>(source.contents().size()));
}

TEST(SockSendfileTest, APeerGoneBeforeTheFirstByteIsThatErrorNotSendfileNotAvailable) {
  EventLoop loop;
  TempFile source(1 << 20);
  for (bool fallback : {false, true}) {
    auto [mine, theirs] = Socket::pair();
    theirs.close();
    File file = source.open();
    try {
      loop.run_until_complete(
          aio::wait_for(sock_sendfile(loop, mine, file, 100, {}, fallback), 30));
      FAIL() << "the peer is gone: sendfile must fail";
    } catch (const SendfileNotAvailableError& e) {
      FAIL() << "the connection's own error was expected, got: " << e.what();
    } catch (const BrokenPipeError& e) {
      EXPECT_EQ(e.err(), EPIPE);
    }
    EXPECT_EQ(file.tell(), 0) << "nothing was sent: the position is left alone, as CPython";
  }
}

struct TransportPair {
  explicit TransportPair(EventLoop& loop) : protocol(std::make_shared<RecordingProtocol>()) {
    auto [mine, theirs] = Socket::pair();
    drain = std::make_unique<Drain>(std::move(theirs));
    transport = SocketTransport::create(loop, std::move(mine), protocol);
    loop.run_until_complete(sleep(0));
  }
  std::shared_ptr<RecordingProtocol> protocol;
  internal::Ref<SocketTransport> transport;
  std::unique_ptr<Drain> drain;
};

TEST(TransportSendfileTest, KeepsOrderWithWritesAndRefusesWritesWhileRunning) {
  EventLoop loop;
  TempFile source(2 << 20);
  for (bool native : {true, false}) {
    TransportPair pair(loop);
    pair.transport->write(std::string(300000, 'H'));  // buffered: more than the socket takes
    std::string refused;
    // Once sendfile has started (natively it pauses reading first; the fallback swaps in its
    // own protocol), a write is refused on either path.
    std::function<void()> try_write = [&] {
      bool started =
          native ? !pair.transport->is_reading() : pair.transport->get_protocol() != pair.protocol;
      if (!started) {
        loop.call_soon(try_write);
        return;
      }
      refused = testing::error_message([&] { pair.transport->write("no"); });
    };
    loop.call_soon(try_write);
    std::size_t sent;
    if (native) {
      File file = source.open();
      sent = loop.run_until_complete(aio::wait_for(sendfile(loop, *pair.transport, file), 30));
      EXPECT_EQ(refused, "unable to write; sendfile is in progress");
    } else {
      auto [reader, writer] = File::pipe();
      std::thread feeder([&, w = std::move(writer)]() mutable {
        const std::string& data = source.contents();
        for (std::size_t done = 0; done < data.size();) {
          ssize_t n = ::write(w.fileno(), data.data() + done, data.size() - done);
          if (n <= 0) break;
          done += static_cast<std::size_t>(n);
        }
      });
      sent = loop.run_until_complete(aio::wait_for(sendfile(loop, *pair.transport, reader), 30));
      feeder.join();
      EXPECT_EQ(refused, "unable to write; sendfile is in progress");
      EXPECT_EQ(pair.transport->get_protocol(), pair.protocol) << "the protocol is restored";
      EXPECT_TRUE(pair.transport->is_reading()) << "reading resumes";
    }
    EXPECT_EQ(sent, source.contents().size());
    pair.transport->write("TAIL");
    pair.transport->close();
    loop.run_until_complete(aio::wait_for(
        [&]() -> Coro<void> {
          while (!pair.protocol->lost()) co_await sleep(0.001);
        }(),
        30));
    std::string expected = std::string(300000, 'H') + source.contents() + "TAIL";
    const std::string& got = pair.drain->join();
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << (native ? "native" : "fallback");
  }
}

TEST(TransportSendfileTest, ClosingAndDatagramTransportsAreRefused) {
  EventLoop loop;
  TempFile source(10);
  File file = source.open();
  TransportPair pair(loop);
  pair.transport->close();
  EXPECT_EQ(testing::error_message(
                [&] { loop.run_until_complete(sendfile(loop, *pair.transport, file)); }),
            "Transport is closing");
  auto [a, b] = Socket::pair(AF_UNIX, SOCK_DGRAM);
  auto datagram =
      DatagramSocketTransport::create(loop, std::move(a), std::make_shared<DatagramProtocol>());
  std::string message =
      testing::error_message([&] { loop.run_until_complete(sendfile(loop, *datagram, file)); });
  EXPECT_EQ(message.rfind("sendfile is not supported for transport <DatagramSocketTransport", 0),
            0u)
      << message;
  datagram->close();
  loop.run_until_complete(sleep(0));
}

}  // namespace
}  // namespace aio
