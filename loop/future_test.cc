// asyncio.Future's rules, and loop.run_until_complete for futures.
#include "loop/future.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::LogCapture;
using Strings = std::vector<std::string>;

// Runs one iteration of `loop` (what asyncio tests call test_utils.run_briefly).
void run_once(EventLoop& loop) {
  loop.stop();
  loop.run_forever();
}

TEST(FutureTest, ResultAndStateTransitions) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(&f.get_loop(), &loop);
  EXPECT_EQ(error_message([&] { f.result(); }), "Result is not ready.");
  EXPECT_EQ(error_message([&] { f.exception(); }), "Exception is not set.");
  EXPECT_EQ(f.repr(), "<Future pending>");
  f.set_result(42);
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 42);
  EXPECT_EQ(f.exception(), nullptr);
  EXPECT_EQ(f.repr(), "<Future finished>");
  EXPECT_FALSE(f.cancel()) << "a done future cannot be cancelled";
}

TEST(FutureTest, SettingADoneFutureIsInvalidState) {
  EventLoop loop;
  Future<std::string> f = loop.create_future<std::string>();
  f.set_result("one");
  EXPECT_EQ(error_message([&] { f.set_result("two"); }), "FINISHED: <Future finished>");
  EXPECT_THROW(f.set_exception(ValueError("x")), InvalidStateError);
  EXPECT_EQ(f.result(), "one");

  Future<void> c = loop.create_future();
  EXPECT_TRUE(c.cancel());
  EXPECT_EQ(error_message([&] { c.set_result(); }), "CANCELLED: <Future cancelled>");
  EXPECT_THROW(c.set_exception(ValueError("x")), InvalidStateError);
  EXPECT_THROW(c.set_exception(std::exception_ptr()), InvalidStateError);
  Future<void> pending = loop.create_future();
  EXPECT_THROW(pending.set_exception(std::exception_ptr()), TypeError);
}

TEST(FutureTest, CancelledFutureRaisesCancelledErrorWithItsMessage) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_TRUE(f.cancel("shutting down"));
  EXPECT_FALSE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_EQ(error_message([&] { f.result(); }), "BaseException: shutting down");
  EXPECT_THROW(f.result(), CancelledError);
  EXPECT_THROW(f.exception(), CancelledError);
}

TEST(FutureTest, ExceptionIsRethrownWithItsTypeAndMessage) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_exception(ConnectionResetError(ECONNRESET));
  EXPECT_THROW(f.result(), ConnectionResetError);
  EXPECT_EQ(describe_exception(f.exception()),
            "aio::ConnectionResetError: [Errno 104] Connection reset by peer");
  EXPECT_EQ(f.repr(),
            "<Future finished exception=aio::ConnectionResetError: [Errno 104] Connection reset "
            "by peer>");
}

TEST(FutureTest, DoneCallbacksAreScheduledNeverRunInline) {
  EventLoop loop;
  Strings order;
  Future<int> f = loop.create_future<int>();
  f.add_done_callback(
      [&](Future<int>& done) { order.push_back("cb1=" + std::to_string(done.result())); });
  f.add_done_callback([&](Future<int>&) { order.push_back("cb2"); });
  f.set_result(7);
  EXPECT_TRUE(order.empty()) << "set_result must not run callbacks";
  run_once(loop);
  EXPECT_EQ(order, (Strings{"cb1=7", "cb2"}));
  // Added to a done future: scheduled with call_soon, not run inline either.
  f.add_done_callback([&](Future<int>&) { order.push_back("late"); });
  EXPECT_EQ(order.size(), 2u);
  run_once(loop);
  EXPECT_EQ(order.back(), "late");
}

// The same scenario in CPython's asyncio; the test asks python3 for the order when available.
constexpr const char* kOrderScenario = R"py(
import asyncio
loop = asyncio.new_event_loop()
order = []
f = loop.create_future()
f.add_done_callback(lambda f: order.append("cb1"))
loop.call_soon(lambda: order.append("soon1"))
f.set_result(1)
f.add_done_callback(lambda f: order.append("cb2"))
loop.call_soon(lambda: order.append("soon2"))
g = loop.create_future()
g.add_done_callback(lambda g: order.append("g-cancelled"))
loop.call_soon(lambda: g.cancel())
loop.call_soon(lambda: order.append("soon3"))
loop.run_until_complete(f)
loop.run_until_complete(asyncio.sleep(0))
print(" ".join(order))
loop.close()
)py";

TEST(FutureTest, CallbackOrderMatchesCPythonAsyncio) {
  EventLoop loop;
  Strings order;
  Future<int> f = loop.create_future<int>();
  f.add_done_callback([&](Future<int>&) { order.push_back("cb1"); });
  loop.call_soon([&] { order.push_back("soon1"); });
  f.set_result(1);
  f.add_done_callback([&](Future<int>&) { order.push_back("cb2"); });
  loop.call_soon([&] { order.push_back("soon2"); });
  Future<void> g = loop.create_future();
  g.add_done_callback([&](Future<void>&) { order.push_back("g-cancelled"); });
  loop.call_soon([&] { g.cancel(); });
  loop.call_soon([&] { order.push_back("soon3"); });
  EXPECT_EQ(loop.run_until_complete(f), 1);
  run_once(loop);  // asyncio.sleep(0): one more iteration
  std::string ours = ::aio::testing::join(order);

  std::string expected = "soon1 cb1 cb2 soon2 soon3 g-cancelled";
  EXPECT_EQ(ours, expected);
  ::aio::testing::expect_same_as_cpython(ours, kOrderScenario);
}

TEST(FutureTest, CallbackListMayChangeWhileCallbacksAreDispatched) {
  EventLoop loop;
  Strings order;
  Future<void> f = loop.create_future();
  DoneCallbackId second = 0;
  f.add_done_callback([&](Future<void>& done) {
    order.push_back("first");
    done.remove_done_callback(second);  // already scheduled: removal finds nothing
    done.add_done_callback([&](Future<void>&) { order.push_back("added-later"); });
  });
  second = f.add_done_callback([&](Future<void>&) { order.push_back("second"); });
  f.set_result();
  run_once(loop);
  run_once(loop);
  EXPECT_EQ(order, (Strings{"first", "second", "added-later"}));
}

Strings* g_order = nullptr;
void record_plain(Future<int>&) { g_order->push_back("plain"); }

TEST(FutureTest, RemoveDoneCallbackRemovesEveryInstanceAndCounts) {
  EventLoop loop;
  Strings order;
  g_order = &order;
  Future<int> f = loop.create_future<int>();
  f.add_done_callback(record_plain);
  DoneCallbackId lambda_id = f.add_done_callback([&](Future<int>&) { order.push_back("lambda"); });
  f.add_done_callback(record_plain);
  f.add_done_callback(&record_plain);
  EXPECT_EQ(f.remove_done_callback(record_plain), 3u);
  EXPECT_EQ(f.remove_done_callback(record_plain), 0u);
  EXPECT_EQ(f.remove_done_callback(lambda_id), 1u);
  EXPECT_EQ(f.remove_done_callback(lambda_id), 0u);
  f.add_done_callback([&](Future<int>&) { order.push_back("kept"); });
  f.set_result(0);
  run_once(loop);
  EXPECT_EQ(order, Strings{"kept"});
  g_order = nullptr;
}

TEST(FutureTest, UnretrievedExceptionIsReportedWhenTheFutureGoesAway) {
  LogCapture log;
  EventLoop loop;
  std::vector<ExceptionContext> reports;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) { reports.push_back(c); });
  {
    Future<int> f = loop.create_future<int>();
    f.set_exception(ValueError("lost"));
    Future<int> copy = f;
    EXPECT_TRUE(reports.empty());
  }
  ASSERT_EQ(reports.size(), 1u) << "reported once, when the last reference went";
  EXPECT_EQ(reports[0].message, "Future exception was never retrieved");
  EXPECT_EQ(describe_exception(reports[0].exception), "aio::ValueError: lost");
  EXPECT_EQ(reports[0].details.at("future"), "<Future finished exception=aio::ValueError: lost>");
  {
    Future<int> retrieved = loop.create_future<int>();
    retrieved.set_exception(ValueError("seen"));
    EXPECT_THROW(retrieved.result(), ValueError);
    Future<int> by_exception = loop.create_future<int>();
    by_exception.set_exception(ValueError("seen"));
    EXPECT_NE(by_exception.exception(), nullptr);
    Future<int> cancelled = loop.create_future<int>();
    cancelled.cancel();
    Future<int> never_set = loop.create_future<int>();
  }
  EXPECT_EQ(reports.size(), 1u) << "retrieved, cancelled or pending futures report nothing";
}

TEST(FutureTest, PendingFutureWithCallbacksDoesNotLeak) {
  auto captured = std::make_shared<int>(0);
  EventLoop loop;
  {
    Future<int> f = loop.create_future<int>();
    f.add_done_callback([captured](Future<int>&) {});
  }
  EXPECT_EQ(captured.use_count(), 1);
}

TEST(FutureTest, FutureOutlivingItsLoopIsSafe) {
  Future<int> f;
  {
    EventLoop loop;
    f = loop.create_future<int>();
    f.set_exception(ValueError("after the loop"));
  }
  EXPECT_THROW(f.get_loop(), RuntimeError);
  f = Future<int>();  // destroyed without a loop to report to: nothing happens
}

// --- run_until_complete ---------------------------------------------------------------------

TEST(RunUntilCompleteTest, ReturnsTheResult) {
  EventLoop loop;
  Future<std::string> f = loop.create_future<std::string>();
  loop.call_later(0.001, [f]() mutable { f.set_result("done"); });
  EXPECT_EQ(loop.run_until_complete(f), "done");
  EXPECT_FALSE(loop.is_running());
  Future<void> v = loop.create_future();
  loop.call_soon([v]() mutable { v.set_result(); });
  loop.run_until_complete(v);
  EXPECT_TRUE(v.done());
}

TEST(RunUntilCompleteTest, RethrowsTheException) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  loop.call_soon([f]() mutable { f.set_exception(FileNotFoundError(ENOENT, "x.txt")); });
  EXPECT_THROW(loop.run_until_complete(f), FileNotFoundError);
  Future<int> c = loop.create_future<int>();
  loop.call_soon([c]() mutable { c.cancel(); });
  EXPECT_THROW(loop.run_until_complete(c), CancelledError);
}

TEST(RunUntilCompleteTest, AlreadyDoneFutureStillRunsOneIteration) {
  EventLoop loop;
  bool ran = false;
  loop.call_soon([&] { ran = true; });
  Future<int> f = loop.create_future<int>();
  f.set_result(5);
  EXPECT_EQ(loop.run_until_complete(f), 5);
  EXPECT_TRUE(ran);
}

TEST(RunUntilCompleteTest, RefusesAFutureOfAnotherLoop) {
  EventLoop loop;
  EventLoop other;
  Future<int> f = other.create_future<int>();
  EXPECT_EQ(error_message([&] { loop.run_until_complete(f); }),
            "The future belongs to a different loop than the one specified as the loop argument");
}

TEST(RunUntilCompleteTest, StoppedBeforeCompletion) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  loop.call_soon([&] { loop.stop(); });
  EXPECT_EQ(error_message([&] { loop.run_until_complete(f); }),
            "Event loop stopped before Future completed.");
  // The loop's own done-callback was removed: completing later stops nothing.
  f.set_result(1);
  bool later = false;
  loop.call_soon([&] {
    loop.call_soon([&] {
      later = true;
      loop.stop();
    });
  });
  loop.run_forever();
  EXPECT_TRUE(later) << "no stale stop request from the earlier run";
}

TEST(RunUntilCompleteTest, RefusedWhenClosedOrRunning) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  std::string nested;
  loop.call_soon([&] {
    nested = error_message([&] { loop.run_until_complete(f); });
    f.set_result(0);
  });
  loop.run_until_complete(f);
  EXPECT_EQ(nested, "This event loop is already running");
  loop.close();
  EXPECT_EQ(error_message([&] { loop.run_until_complete(f); }), "Event loop is closed");
}

TEST(RunUntilCompleteTest, InterruptPropagatesAndLeavesNoStaleStop) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  loop.call_soon([] { throw KeyboardInterrupt(); });
  EXPECT_THROW(loop.run_until_complete(f), KeyboardInterrupt);
  EXPECT_FALSE(loop.is_running());
  loop.call_soon([f]() mutable { f.set_result(9); });
  EXPECT_EQ(loop.run_until_complete(f), 9);
}

}  // namespace
}  // namespace aio
