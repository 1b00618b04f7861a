// How to test your own protocol with //testing: an in-memory transport pair instead of sockets,
// virtual time for the 30 s idle timeout, RecordingProtocol as the peer (it asserts asyncio's
// callback contract), gMock matchers for its trace, and LeakCheck for what the test left
// behind. Every test runs in well under a millisecond of loop time.
#include "examples/line_protocol/line_protocol.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "testing/leak_check.h"
#include "testing/loop_test_util.h"
#include "testing/memory_transport.h"
#include "testing/protocol_matchers.h"
#include "testing/protocol_recorder.h"

namespace {

using aio::testing::LostCleanly;
using aio::testing::LostWith;
using aio::testing::Received;
using aio::testing::TraceIs;

// The protocol under test on one side of an in-memory pair, a recording client on the other.
struct Connection {
  explicit Connection(aio::EventLoop& loop)
      : server(std::make_shared<example::UpperLineProtocol>()),
        client(std::make_shared<aio::testing::RecordingProtocol>()) {
    std::tie(to_server, to_client) = aio::testing::MemoryTransport::pair(loop, client, server);
  }
  std::shared_ptr<example::UpperLineProtocol> server;
  std::shared_ptr<aio::testing::RecordingProtocol> client;
  aio::testing::MemoryTransport::Ref to_server, to_client;  // the client's and the server's ends
};

class UpperLineProtocolTest : public ::testing::Test {
 protected:
  aio::testing::LeakCheck leaks;  // declared first: checks after the loop is gone
  aio::EventLoop loop{aio::testing::virtual_time()};
};

TEST_F(UpperLineProtocolTest, AnswersEachLineUpperCasedAndQuitCloses) {
  Connection c(loop);
  c.to_server->write(std::string_view("hello\nwor"));
  c.to_server->write(std::string_view("ld\nQUIT\n"));
  aio::testing::run_until(loop, [&] { return c.client->lost(); });
  EXPECT_THAT(*c.client, Received("HELLO\nWORLD\n"));
  EXPECT_THAT(*c.client, TraceIs("made data eof lost"));
  EXPECT_THAT(*c.client, LostCleanly());
  EXPECT_DOUBLE_EQ(loop.time(), 0.0) << "no timer had to fire";
}

TEST_F(UpperLineProtocolTest, AnIdleConnectionIsToldAndClosedAfterThirtySeconds) {
  Connection c(loop);
  c.to_server->write(std::string_view("ping\n"));
  aio::testing::run_until(loop, [&] { return c.client->lost(); }, 3600);
  EXPECT_THAT(*c.client, Received("PING\nBYE idle\n"));
  EXPECT_DOUBLE_EQ(loop.time(), 30.0) << "30 s of virtual time, none of it waited for";
}

TEST_F(UpperLineProtocolTest, EachLineRestartsTheIdleTimer) {
  Connection c(loop);
  c.to_server->write(std::string_view("one\n"));
  loop.call_later(10, [&] { c.to_server->write(std::string_view("two\n")); });
  aio::testing::run_until(loop, [&] { return c.client->lost(); }, 3600);
  EXPECT_THAT(*c.client, Received("ONE\nTWO\nBYE idle\n"));
  EXPECT_DOUBLE_EQ(loop.time(), 40.0) << "the last line at 10 s, then 30 s of silence";
}

TEST_F(UpperLineProtocolTest, ASlowPeerDelaysTheAnswerNotTheTimeout) {
  Connection c(loop);
  c.to_server->set_delay(5);  // what reaches the client takes 5 s
  c.to_server->write(std::string_view("ping\n"));
  aio::testing::run_until(loop, [&] { return c.client->received == "PING\n"; }, 3600);
  EXPECT_DOUBLE_EQ(loop.time(), 5.0);
  aio::testing::run_until(loop, [&] { return c.client->lost(); }, 3600);
  EXPECT_THAT(*c.client, Received("PING\nBYE idle\n"));
  // The server went idle at 0 s: BYE at 30 s, seen by the client at 35 s, EOF at 40 s.
  EXPECT_DOUBLE_EQ(loop.time(), 40.0);
}

TEST_F(UpperLineProtocolTest, ALineSplitIntoOneByteReadsIsStillOneLine) {
  Connection c(loop);
  c.to_client->set_max_chunk(1);  // the server gets one byte per data_received
  c.to_server->write(std::string_view("slow\nQUIT\n"));
  aio::testing::run_until(loop, [&] { return c.client->lost(); });
  EXPECT_THAT(*c.client, Received("SLOW\n"));
}

TEST_F(UpperLineProtocolTest, AnOverlongLineAbortsTheConnection) {
  Connection c(loop);
  c.to_server->write(std::string(2000, 'x'));
  aio::testing::run_until(loop, [&] { return c.client->lost(); });
  EXPECT_THAT(*c.client, Received(""));
  EXPECT_THAT(*c.client, TraceIs("made eof lost"));
}

TEST_F(UpperLineProtocolTest, AResetMidLineLosesTheConnectionWithoutAnAnswer) {
  Connection c(loop);
  c.to_client->reset_after(3);  // the server's end sees 3 bytes, then a reset
  c.to_server->write(std::string_view("hello\n"));
  aio::testing::run_until(loop, [&] { return c.client->lost(); });
  EXPECT_THAT(*c.client, LostWith("aio::ConnectionResetError"));
  EXPECT_THAT(*c.client, Received(""));
}

}  // namespace
