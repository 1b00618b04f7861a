// StreamReader driven as a protocol drives it (feed_data / feed_eof / set_exception), and over a
// real socket pair for flow control: asyncio 3.8's read semantics, errors and messages, the
// one-waiter rule, and that a cancelled read leaves every byte for the next one.
#include "net/stream_reader.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "loop/task.h"
#include "net/socket.h"
#include "net/socket_transport.h"
#include "net/stream_errors.h"
#include "net/stream_reader_protocol.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using testing::error_message;
using testing::run_until;

template <class T>
T run(EventLoop& loop, Coro<T> coro) {
  return loop.run_until_complete(wait_for(std::move(coro), 10));
}

// Lets the loop run `n` iterations (a started read reaches its wait).
void spin(EventLoop& loop, int n = 3) {
  for (int i = 0; i < n; ++i) loop.run_until_complete(sleep(0));
}

class StreamReaderTest : public ::testing::Test {
 protected:
  EventLoop loop;
};

TEST_F(StreamReaderTest, ReadReturnsWhatIsThereUpToN) {
  StreamReader reader(loop);
  reader.feed_data("hello world");
  EXPECT_EQ(run(loop, reader.read(0)), "");
  EXPECT_EQ(run(loop, reader.read(5)), "hello");
  EXPECT_EQ(run(loop, reader.read(100)), " world");
  reader.feed_eof();
  EXPECT_TRUE(reader.at_eof());
  EXPECT_EQ(run(loop, reader.read(5)), "");
  EXPECT_EQ(run(loop, reader.read()), "");
}

TEST_F(StreamReaderTest, ReadWaitsForTheFirstByte) {
  StreamReader reader(loop);
  Task<std::string> read = loop.create_task(reader.read(10));
  spin(loop);
  EXPECT_FALSE(read.done());
  EXPECT_NE(reader.repr().find("waiter=<Future pending"), std::string::npos) << reader.repr();
  reader.feed_data("abc");
  EXPECT_EQ(loop.run_until_complete(read), "abc");
}

TEST_F(StreamReaderTest, ReadAllCollectsUntilEofInBlocksOfLimit) {
  StreamReader reader(loop, 4);
  Task<std::string> read = loop.create_task(reader.read());
  reader.feed_data("0123456789");
  spin(loop);
  reader.feed_data("abcdef");
  spin(loop);
  EXPECT_FALSE(read.done());
  reader.feed_eof();
  EXPECT_EQ(loop.run_until_complete(read), "0123456789abcdef");
  EXPECT_TRUE(reader.at_eof());
}

TEST_F(StreamReaderTest, ReadlineReturnsLinesThenTheIncompleteRestThenEmpty) {
  StreamReader reader(loop);
  reader.feed_data("line1\nline2\npart");
  EXPECT_EQ(run(loop, reader.readline()), "line1\n");
  EXPECT_EQ(run(loop, reader.readline()), "line2\n");
  Task<std::string> line = loop.create_task(reader.readline());
  spin(loop);
  EXPECT_FALSE(line.done());
  reader.feed_data("ial");
  spin(loop);
  EXPECT_FALSE(line.done());
  reader.feed_eof();
  EXPECT_EQ(loop.run_until_complete(line), "partial");
  EXPECT_EQ(run(loop, reader.readline()), "");
  EXPECT_TRUE(reader.at_eof());
}

TEST_F(StreamReaderTest, ReadlineOverTheLimitWithoutNewlineClearsTheBuffer) {
  StreamReader reader(loop, 3);
  reader.feed_data("abcdef");
  EXPECT_EQ(error_message([&] { run(loop, reader.readline()); }),
            "Separator is not found, and chunk exceed the limit");
  EXPECT_EQ(reader.buffered_size(), 0u);
  try {
    reader.feed_data("abcdef");
    run(loop, reader.readline());
    FAIL() << "no exception";
  } catch (const ValueError&) {
  }
}

TEST_F(StreamReaderTest, ReadlineOverTheLimitWithNewlineDropsOnlyThatLine) {
  StreamReader reader(loop, 3);
  reader.feed_data("abcdef\nok\n");
  EXPECT_EQ(error_message([&] { run(loop, reader.readline()); }),
            "Separator is found, but chunk is longer than limit");
  EXPECT_EQ(run(loop, reader.readline()), "ok\n");
}

TEST_F(StreamReaderTest, ReaduntilFindsASeparatorSplitAcrossFeeds) {
  StreamReader reader(loop);
  Task<std::string> chunk = loop.create_task(reader.readuntil("\r\n\r\n"));
  reader.feed_data("GET / HTTP/1.1\r\nHost: x\r");
  spin(loop);
  reader.feed_data("\n\r");
  spin(loop);
  EXPECT_FALSE(chunk.done());
  reader.feed_data("\nbody");
  EXPECT_EQ(loop.run_until_complete(chunk), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(run(loop, reader.read(10)), "body");
}

TEST_F(StreamReaderTest, ReaduntilAtEofRaisesIncompleteReadErrorWithTheWholeBuffer) {
  StreamReader reader(loop);
  reader.feed_data("abc==");
  reader.feed_eof();
  try {
    run(loop, reader.readuntil("==="));
    FAIL() << "no exception";
  } catch (const IncompleteReadError& e) {
    EXPECT_EQ(e.partial(), "abc==");
    EXPECT_FALSE(e.expected().has_value());
    // CPython 3.8's text (3.9+ says "undefined" instead of "None").
    EXPECT_STREQ(e.what(), "5 bytes read on a total of None expected bytes");
    const EOFError& as_eof = e;  // an EOFError, as in Python
    EXPECT_STREQ(as_eof.what(), e.what());
  }
  EXPECT_EQ(reader.buffered_size(), 0u);
  EXPECT_TRUE(reader.at_eof());
}

TEST_F(StreamReaderTest, ReaduntilLimitOverrunKeepsTheData) {
  StreamReader reader(loop, 4);
  reader.feed_data("0123456789");
  try {
    run(loop, reader.readuntil("|"));
    FAIL() << "no exception";
  } catch (const LimitOverrunError& e) {
    EXPECT_STREQ(e.what(), "Separator is not found, and chunk exceed the limit");
    EXPECT_EQ(e.consumed(), 10u);
  }
  reader.feed_data("|");
  try {
    run(loop, reader.readuntil("|"));
    FAIL() << "no exception";
  } catch (const LimitOverrunError& e) {
    EXPECT_STREQ(e.what(), "Separator is found, but chunk is longer than limit");
    EXPECT_EQ(e.consumed(), 10u);
  }
  EXPECT_EQ(run(loop, reader.readexactly(11)), "0123456789|");
  EXPECT_EQ(error_message([&] { run(loop, reader.readuntil("")); }),
            "Separator should be at least one-byte string");
}

TEST_F(StreamReaderTest, ReadexactlyWaitsForAllAndReportsShortInput) {
  StreamReader reader(loop);
  EXPECT_EQ(error_message([&] { run(loop, reader.readexactly(-1)); }),
            "readexactly size can not be less than zero");
  EXPECT_EQ(run(loop, reader.readexactly(0)), "");
  Task<std::string> exact = loop.create_task(reader.readexactly(6));
  reader.feed_data("abc");
  spin(loop);
  EXPECT_FALSE(exact.done());
  reader.feed_data("defgh");
  EXPECT_EQ(loop.run_until_complete(exact), "abcdef");
  reader.feed_eof();
  try {
    run(loop, reader.readexactly(5));
    FAIL() << "no exception";
  } catch (const IncompleteReadError& e) {
    EXPECT_EQ(e.partial(), "gh");
    EXPECT_EQ(e.expected(), 5u);
    EXPECT_STREQ(e.what(), "2 bytes read on a total of 5 expected bytes");
  }
}

TEST_F(StreamReaderTest, ASecondWaitingReadIsRefusedWithAsyncioMessage) {
  StreamReader reader(loop);
  Task<std::string> first = loop.create_task(reader.read(1));
  spin(loop);
  EXPECT_EQ(error_message([&] { run(loop, reader.read(1)); }),
            "read() called while another coroutine is already waiting for incoming data");
  EXPECT_EQ(error_message([&] { run(loop, reader.readline()); }),
            "readuntil() called while another coroutine is already waiting for incoming data");
  EXPECT_EQ(error_message([&] { run(loop, reader.readexactly(3)); }),
            "readexactly() called while another coroutine is already waiting for incoming data");
  reader.feed_data("x");
  EXPECT_EQ(loop.run_until_complete(first), "x");
}

TEST_F(StreamReaderTest, SetExceptionWakesTheWaiterAndFailsLaterReads) {
  StreamReader reader(loop);
  Task<std::string> waiting = loop.create_task(reader.readline());
  spin(loop);
  reader.set_exception(ConnectionResetError(ECONNRESET));
  EXPECT_THROW(loop.run_until_complete(waiting), ConnectionResetError);
  EXPECT_THROW(run(loop, reader.read(1)), ConnectionResetError);
  EXPECT_THROW(run(loop, reader.readexactly(1)), ConnectionResetError);
  EXPECT_THROW(run(loop, reader.readuntil("x")), ConnectionResetError);
  EXPECT_TRUE(reader.exception() != nullptr);
}

TEST_F(StreamReaderTest, ContractErrors) {
  EXPECT_EQ(error_message([&] { StreamReader reader(loop, 0); }), "Limit cannot be <= 0");
  StreamReader reader(loop);
  reader.feed_eof();
  EXPECT_THROW(reader.feed_data("x"), InvalidStateError);
  EXPECT_THROW(reader.feed_data(""), InvalidStateError);  // asyncio checks EOF first too
}

TEST_F(StreamReaderTest, ReprNamesTheState) {
  StreamReader reader(loop, 10);
  EXPECT_EQ(reader.repr(), "<StreamReader limit=10>");
  reader.feed_data("abcde");
  reader.feed_eof();
  EXPECT_EQ(reader.repr(), "<StreamReader 5 bytes eof limit=10>");
}

// --- Cancellation loses no byte ------------------------------------------------------------

TEST_F(StreamReaderTest, CancelledReadlineLeavesThePartialLine) {
  StreamReader reader(loop);
  reader.feed_data("par");
  Task<std::string> line = loop.create_task(reader.readline());
  spin(loop);
  line.cancel();
  EXPECT_THROW(loop.run_until_complete(line), CancelledError);
  reader.feed_data("tial\n");
  EXPECT_EQ(run(loop, reader.readline()), "partial\n");
}

TEST_F(StreamReaderTest, CancelledReaduntilAndReadexactlyLeaveTheirData) {
  StreamReader reader(loop);
  reader.feed_data("abc");
  Task<std::string> until = loop.create_task(reader.readuntil("::"));
  spin(loop);
  until.cancel();
  EXPECT_THROW(loop.run_until_complete(until), CancelledError);
  reader.feed_data("de");
  Task<std::string> exact = loop.create_task(reader.readexactly(10));
  spin(loop);
  exact.cancel();
  EXPECT_THROW(loop.run_until_complete(exact), CancelledError);
  EXPECT_EQ(reader.buffered_size(), 5u);
  EXPECT_EQ(run(loop, reader.read(10)), "abcde");
}

TEST_F(StreamReaderTest, CancelledReadAllPutsBackWhatItCollected) {
  StreamReader reader(loop, 4);  // read(-1) takes blocks of 4 out of the buffer
  Task<std::string> all = loop.create_task(reader.read());
  reader.feed_data("0123456789");
  spin(loop);
  EXPECT_EQ(reader.buffered_size(), 0u);  // collected inside the read by now
  all.cancel();
  EXPECT_THROW(loop.run_until_complete(all), CancelledError);
  EXPECT_EQ(reader.buffered_size(), 10u);
  reader.feed_data("ab");
  reader.feed_eof();
  EXPECT_EQ(run(loop, reader.read()), "0123456789ab");
}

// On a loop of its own with virtual time: each timeout fires at its exact instant, at once.
TEST_F(StreamReaderTest, CancelledReadAndTimeoutLeaveTheNextReadIntact) {
  EventLoop virtual_loop(testing::virtual_time());
  StreamReader reader(virtual_loop);
  EXPECT_THROW(run(virtual_loop, wait_for(reader.read(5), 0.01)), TimeoutError);
  EXPECT_DOUBLE_EQ(virtual_loop.time(), 0.01);
  reader.feed_data("123");
  EXPECT_THROW(run(virtual_loop, wait_for(reader.readexactly(5), 0.01)), TimeoutError);
  EXPECT_DOUBLE_EQ(virtual_loop.time(), 0.02);
  reader.feed_data("45");
  EXPECT_EQ(run(virtual_loop, reader.readexactly(5)), "12345");
}

// --- Flow control over a real socket pair --------------------------------------------------

TEST_F(StreamReaderTest, PausesAboveTwiceTheLimitAndResumesAtTheLimit) {
  constexpr std::size_t kLimit = 1000;
  auto [ours, peer] = Socket::pair();
  StreamReader reader(loop, kLimit);
  auto protocol = std::make_shared<StreamReaderProtocol>(loop, reader);
  internal::Ref<SocketTransport> transport =
      SocketTransport::create(loop, std::move(ours), protocol);
  spin(loop);
  std::string payload(3 * kLimit, 'x');
  ASSERT_EQ(::send(peer.fileno(), payload.data(), payload.size(), 0),
            static_cast<ssize_t>(payload.size()));
  ASSERT_TRUE(run_until(loop, [&] { return !transport->is_reading(); }));
  EXPECT_GT(reader.buffered_size(), 2 * kLimit);
  EXPECT_NE(reader.repr().find(" paused"), std::string::npos);
  // Reading down to just above the limit keeps it paused; down to the limit resumes.
  std::size_t total = 0;
  std::size_t above = reader.buffered_size() - kLimit - 1;
  total += run(loop, reader.readexactly(static_cast<std::ptrdiff_t>(above))).size();
  EXPECT_FALSE(transport->is_reading());
  total += run(loop, reader.readexactly(1)).size();
  EXPECT_TRUE(transport->is_reading());
  peer.close();
  std::string rest = run(loop, reader.read());
  total += rest.size();
  EXPECT_EQ(total, payload.size());
  EXPECT_EQ(rest, std::string(rest.size(), 'x'));
  transport->close();
  spin(loop);
}

}  // namespace
}  // namespace aio
