// The in-memory transport pair: a socket transport's contract (checked by RecordingProtocol on
// every callback), real flow control, and each injected fault; also under the streams API.
#include "testing/memory_transport.h"

#include <cctype>
#include <string>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/task.h"
#include "net/stream_reader.h"
#include "net/stream_reader_protocol.h"
#include "net/stream_writer.h"
#include "testing/loop_test_util.h"
#include "testing/protocol_recorder.h"

namespace aio::testing {
namespace {

void run_once(EventLoop& loop) { loop.run_until_complete(sleep(0)); }

struct Pair {
  explicit Pair(EventLoop& loop) { std::tie(a, b) = MemoryTransport::pair(loop, pa, pb); }
  std::shared_ptr<RecordingProtocol> pa = std::make_shared<RecordingProtocol>();
  std::shared_ptr<RecordingProtocol> pb = std::make_shared<RecordingProtocol>();
  MemoryTransport::Ref a, b;
};

TEST(MemoryTransportTest, ConnectionMadeIsScheduledThenDataFlowsBothWays) {
  EventLoop loop;
  Pair p(loop);
  EXPECT_EQ(p.pa->trace(), "");
  run_once(loop);
  EXPECT_EQ(p.pa->trace(), "made");
  EXPECT_EQ(p.pb->trace(), "made");
  p.a->write(std::string_view("hello"));
  EXPECT_EQ(p.pb->received, "") << "delivery goes through the loop";
  p.b->write(std::string_view("world"));
  run_until(loop, [&] { return p.pb->received == "hello" && p.pa->received == "world"; });
  EXPECT_EQ(std::any_cast<std::string>(p.a->get_extra_info("peername")), "memory:b");
  EXPECT_EQ(std::any_cast<int>(p.a->get_extra_info("nope", 7)), 7);
  p.a->close();
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
}

TEST(MemoryTransportTest, CloseFlushesThenThePeerSeesEofAndEachSideIsLostOnce) {
  EventLoop loop;
  Pair p(loop);
  run_once(loop);
  p.b->stall(true);
  p.a->write(std::string(100000, 'x'));
  p.a->close();
  p.a->close();
  EXPECT_TRUE(p.a->is_closing());
  run_once(loop);
  EXPECT_EQ(p.pa->trace(), "made pause") << "close waits for the buffer (over 64 KiB) to drain";
  p.b->stall(false);
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
  EXPECT_EQ(p.pb->received.size(), 100000u);
  EXPECT_EQ(p.pa->trace(), "made pause resume lost");
  EXPECT_EQ(p.pb->trace(), "made data eof lost");
}

TEST(MemoryTransportTest, AReaderThatPausesMakesTheWriterPauseAtTheHighWaterMark) {
  EventLoop loop;
  Pair p(loop);
  run_once(loop);
  p.a->set_write_buffer_limits(100);
  EXPECT_EQ(p.a->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{25, 100}));
  p.b->pause_reading();
  p.a->write(std::string(60, 'x'));
  EXPECT_EQ(p.pa->trace(), "made");
  p.a->write(std::string(60, 'y'));
  EXPECT_EQ(p.pa->trace(), "made pause");
  EXPECT_EQ(p.a->get_write_buffer_size(), 120u);
  run_once(loop);
  EXPECT_EQ(p.pb->received, "") << "a paused reader receives nothing";
  p.b->resume_reading();
  run_until(loop, [&] { return p.pb->received.size() == 120; });
  EXPECT_EQ(p.pa->trace(), "made pause resume");
  EXPECT_EQ(p.a->get_write_buffer_size(), 0u);
  p.a->abort();
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
}

TEST(MemoryTransportTest, MaxChunkDeliversShortReads) {
  EventLoop loop;
  Pair p(loop);
  std::vector<std::size_t> sizes;
  p.pb->on_data = [&](Transport&, std::span<const std::byte> data) {
    sizes.push_back(data.size());
  };
  run_once(loop);
  p.b->set_max_chunk(3);
  p.a->write(std::string_view("abcdefgh"));
  run_until(loop, [&] { return p.pb->received == "abcdefgh"; });
  EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 3, 2}));
  p.a->close();
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
}

TEST(MemoryTransportTest, DelayedDeliveryCostsNothingInVirtualTime) {
  EventLoop loop(virtual_time());
  Pair p(loop);
  double received_at = -1;
  p.pb->on_data = [&](Transport&, std::span<const std::byte>) { received_at = loop.time(); };
  run_once(loop);
  p.b->set_delay(30);
  p.a->write(std::string_view("late"));
  run_until(loop, [&] { return received_at >= 0; }, 3600);
  EXPECT_DOUBLE_EQ(received_at, 30.0);
  p.a->close();
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); }, 3600);
}

TEST(MemoryTransportTest, ResetAfterNBytesLosesBothSidesWithConnectionResetError) {
  EventLoop loop;
  Pair p(loop);
  run_once(loop);
  p.b->reset_after(5);
  p.a->write(std::string_view("0123456789"));
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
  EXPECT_EQ(p.pb->received, "01234");
  EXPECT_EQ(p.pb->trace().rfind("made data lost:aio::ConnectionResetError", 0), 0u)
      << p.pb->trace();
  EXPECT_EQ(p.pa->trace().rfind("made lost:aio::ConnectionResetError", 0), 0u) << p.pa->trace();
  p.a->write(std::string_view("dropped"));  // after the loss: dropped, not thrown
}

TEST(MemoryTransportTest, FailDeliversTheChosenErrorAndThePeerSeesEof) {
  EventLoop loop;
  Pair p(loop);
  run_once(loop);
  p.a->fail(std::make_exception_ptr(ValueError("chosen")));
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
  EXPECT_EQ(p.pa->trace(), "made lost:aio::ValueError: chosen");
  EXPECT_EQ(p.pb->trace(), "made eof lost");
}

TEST(MemoryTransportTest, WriteEofHalfClosesAndThePeerCanStillAnswer) {
  EventLoop loop;
  Pair p(loop);
  p.pb->keep_open_on_eof = true;
  run_once(loop);
  p.a->write(std::string_view("question"));
  p.a->write_eof();
  EXPECT_THROW(p.a->write(std::string_view("more")), RuntimeError);
  run_until(loop, [&] { return p.pb->trace() == "made data eof"; });
  p.b->write(std::string_view("answer"));
  p.b->close();
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
  EXPECT_EQ(p.pa->received, "answer");
  EXPECT_EQ(p.pa->trace(), "made data eof lost");
}

TEST(MemoryTransportTest, AbortDropsWhatIsUnsentAndIsFinal) {
  EventLoop loop;
  Pair p(loop);
  run_once(loop);
  p.b->stall(true);
  p.a->write(std::string_view("never arrives"));
  p.a->abort();
  p.a->abort();
  p.b->stall(false);
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
  EXPECT_EQ(p.pb->received, "");
  EXPECT_EQ(p.pa->trace(), "made lost");
  EXPECT_EQ(p.pb->trace(), "made eof lost");
}

TEST(MemoryTransportTest, AThrowingDataReceivedIsReportedAndFatal) {
  EventLoop loop;
  Pair p(loop);
  std::vector<std::string> messages;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { messages.push_back(context.message); });
  p.pb->on_data = [](Transport&, std::span<const std::byte>) { throw ValueError("bad data"); };
  run_once(loop);
  p.a->write(std::string_view("x"));
  run_until(loop, [&] { return p.pa->lost() && p.pb->lost(); });
  EXPECT_EQ(messages,
            std::vector<std::string>{"Fatal error: protocol.data_received() call failed."});
  EXPECT_EQ(p.pb->trace(), "made data lost:aio::ValueError: bad data");
}

// A BufferedProtocol with a one-byte buffer still gets every byte, in order.
class OneByteProtocol : public BufferedProtocol {
 public:
  std::span<std::byte> get_buffer(std::ptrdiff_t) override { return std::span(&byte_, 1); }
  void buffer_updated(std::size_t n) override { received.append(1, static_cast<char>(byte_)); }
  void connection_lost(std::exception_ptr) override { lost = true; }
  std::string received;
  bool lost = false;

 private:
  std::byte byte_{};
};

TEST(MemoryTransportTest, BufferedProtocolWithAOneByteBuffer) {
  EventLoop loop;
  auto writer = std::make_shared<RecordingProtocol>();
  auto reader = std::make_shared<OneByteProtocol>();
  auto [a, b] = MemoryTransport::pair(loop, writer, reader);
  run_once(loop);
  a->write(std::string_view("bytes"));
  a->close();
  run_until(loop, [&] { return writer->lost() && reader->lost; });
  EXPECT_EQ(reader->received, "bytes");
}

// The streams API over the pair: a server-side callback upper-cases one line.
TEST(MemoryTransportTest, StreamsWorkOverThePair) {
  EventLoop loop;
  auto handler = [](StreamReader reader, StreamWriter writer) -> Coro<void> {
    std::string line = co_await reader.readline();
    for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    writer.write(line);
    co_await writer.drain();
    writer.close();
  };
  auto server = std::make_shared<StreamReaderProtocol>(loop, StreamReader(loop), handler);
  StreamReader client_reader(loop);
  auto client = std::make_shared<StreamReaderProtocol>(loop, client_reader);
  auto [a, b] = MemoryTransport::pair(loop, client, server);
  StreamWriter client_writer(a, client, client_reader, loop);
  auto talk = [&]() -> Coro<std::string> {
    client_writer.write(std::string_view("over memory\n"));
    co_await client_writer.drain();
    std::string answer = co_await client_reader.readline();
    client_writer.close();
    co_return answer;
  };
  EXPECT_EQ(loop.run_until_complete(wait_for(talk(), 10)), "OVER MEMORY\n");
  run_until(loop, [&] { return a->is_closing() && b->is_closing(); });
  run_once(loop);
}

}  // namespace
}  // namespace aio::testing
