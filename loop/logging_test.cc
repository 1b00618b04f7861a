// The logging seam passes records (level, message, the exception as exc_info, the exception
// handler's context), and a sink that throws never takes the loop down.
#include "loop/logging.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/event_loop.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

TEST(LoggingTest, TheDefaultHandlerRecordCarriesTheExceptionAndTheContext) {
  EventLoop loop;
  std::vector<std::string> keys;
  std::exception_ptr logged;
  std::string message;
  LogSink previous = set_log_sink([&](const LogRecord& record) {
    logged = record.exception;
    message = std::string(record.message);
    ASSERT_NE(record.context, nullptr);
    for (const auto& [key, value] : record.context->details) keys.push_back(key);
    EXPECT_EQ(record.level, LogLevel::kError);
  });
  loop.call_soon([] { throw ValueError("boom"); });
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  set_log_sink(std::move(previous));
  ASSERT_NE(logged, nullptr);
  EXPECT_THROW(std::rethrow_exception(logged), ValueError);
  EXPECT_NE(message.find("Exception in callback"), std::string::npos) << message;
  EXPECT_NE(message.find("aio::ValueError: boom"), std::string::npos) << message;
}

TEST(LoggingTest, PlainRecordsHaveNoContext) {
  testing::LogCapture capture;
  log(LogLevel::kWarning, "plain");
  log(LogLevel::kDebug, "with error", std::make_exception_ptr(RuntimeError("x")));
  auto records = capture.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].message, "plain");
  EXPECT_EQ(records[0].exception, nullptr);
  EXPECT_FALSE(records[0].from_exception_handler);
  EXPECT_NE(records[1].exception, nullptr);
}

TEST(LoggingTest, AThrowingSinkLosesTheRecordButNotTheLoop) {
  EventLoop loop;
  int sink_calls = 0;
  LogSink previous = set_log_sink([&](const LogRecord&) {
    ++sink_calls;
    throw RuntimeError("sink broken");
  });
  EXPECT_NO_THROW(log(LogLevel::kError, "lost"));
  bool after = false;
  loop.call_soon([] { throw ValueError("reported through the broken sink"); });
  loop.call_soon([&] {
    after = true;
    loop.stop();
  });
  EXPECT_NO_THROW(loop.run_forever());
  set_log_sink(std::move(previous));
  EXPECT_TRUE(after) << "the loop went on after the sink threw";
  EXPECT_EQ(sink_calls, 2);
}

}  // namespace
}  // namespace aio
