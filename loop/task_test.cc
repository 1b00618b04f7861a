// asyncio.Task semantics for aio::Task and aio::Coro.
#include "loop/task.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::join;
using ::aio::testing::LogCapture;
using Strings = std::vector<std::string>;

Coro<int> add_later(int a, int b) {
  co_await sleep(0);
  co_return a + b;
}

TEST(TaskTest, CreateTaskNeverRunsTheFirstStepSynchronously) {
  EventLoop loop;
  Strings order;
  loop.call_soon([&] { order.push_back("soon-before"); });
  auto body = [&]() -> Coro<void> {
    order.push_back("task-body");
    co_return;
  };
  Task<void> task = loop.create_task(body());
  loop.call_soon([&] { order.push_back("soon-after"); });
  EXPECT_TRUE(order.empty());
  EXPECT_FALSE(task.done());
  loop.run_until_complete(task);
  EXPECT_EQ(order, (Strings{"soon-before", "task-body", "soon-after"}));
}

TEST(TaskTest, RunUntilCompleteTakesCoroutinesAndTasks) {
  EventLoop loop;
  EXPECT_EQ(loop.run_until_complete(add_later(2, 3)), 5);
  Task<int> task = loop.create_task(add_later(4, 5));
  EXPECT_EQ(loop.run_until_complete(task), 9);
  EXPECT_EQ(task.result(), 9);
}

TEST(TaskTest, NestedCoroutinesPassValuesAndExceptionsWithTypeAndMessage) {
  EventLoop loop;
  auto inner = []() -> Coro<std::string> {
    co_await sleep(0);
    throw ConnectionRefusedError(ECONNREFUSED, "127.0.0.1:1");
    co_return "unreachable";
  };
  auto outer = [&]() -> Coro<std::string> {
    int sum = co_await add_later(1, 1);
    try {
      co_await inner();
    } catch (const ConnectionRefusedError& e) {
      co_return std::to_string(sum) + " " + e.what();
    }
    co_return "no exception";
  };
  EXPECT_EQ(loop.run_until_complete(outer()), "2 [Errno 111] Connection refused: 127.0.0.1:1");
  EXPECT_THROW(loop.run_until_complete(inner()), ConnectionRefusedError);
}

TEST(TaskTest, AwaitingADoneFutureDoesNotSuspend) {
  EventLoop loop;
  Future<int> ready = loop.create_future<int>();
  ready.set_result(11);
  bool other_ran = false;
  auto body = [&]() -> Coro<bool> {
    loop.call_soon([&] { other_ran = true; });
    int value = co_await ready;
    co_return value == 11 && !other_ran;  // no loop iteration happened in between
  };
  EXPECT_TRUE(loop.run_until_complete(body()));
}

TEST(TaskTest, AwaitingAPendingFutureResumesWithItsValueOrException) {
  EventLoop loop;
  Future<int> value = loop.create_future<int>();
  Future<int> failure = loop.create_future<int>();
  loop.call_later(0.001, [&] { value.set_result(7); });
  loop.call_later(0.002, [&] { failure.set_exception(ValueError("bad")); });
  auto body = [&]() -> Coro<std::string> {
    int v = co_await value;
    try {
      co_await failure;
    } catch (const ValueError& e) {
      co_return std::to_string(v) + ":" + e.what();
    }
    co_return "?";
  };
  EXPECT_EQ(loop.run_until_complete(body()), "7:bad");
}

constexpr const char* kInterleaveScenario = R"py(
import asyncio
order = []
async def worker(name):
    order.append(name + "1")
    await asyncio.sleep(0)
    order.append(name + "2")
    await asyncio.sleep(0)
    order.append(name + "3")
async def main():
    loop = asyncio.get_running_loop()
    a = loop.create_task(worker("a"))
    b = loop.create_task(worker("b"))
    loop.call_soon(lambda: order.append("cb"))
    await a
    await b
asyncio.run(main())
print(" ".join(order))
)py";

TEST(TaskTest, SleepZeroInterleavesTasksLikeCPython) {
  EventLoop loop;
  Strings order;
  auto worker = [&](std::string name) -> Coro<void> {
    order.push_back(name + "1");
    co_await sleep(0);
    order.push_back(name + "2");
    co_await sleep(0);
    order.push_back(name + "3");
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    Task<void> a = running.create_task(worker("a"));
    Task<void> b = running.create_task(worker("b"));
    running.call_soon([&] { order.push_back("cb"); });
    co_await a;
    co_await b;
  };
  loop.run_until_complete(main_coro());
  EXPECT_EQ(join(order), "a1 b1 cb a2 b2 a3 b3");
  ::aio::testing::expect_same_as_cpython(join(order), kInterleaveScenario);
}

constexpr const char* kCancellationScenario = R"py(
import asyncio
order = []
async def child():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        order.append("child-cancelled")
        raise
async def main():
    loop = asyncio.get_running_loop()
    t = loop.create_task(child())
    t.add_done_callback(lambda f: order.append("done-cb"))
    await asyncio.sleep(0)
    loop.call_soon(lambda: order.append("soon"))
    t.cancel()
    order.append("after-cancel")
    try:
        await t
    except asyncio.CancelledError:
        order.append("main-saw-cancel")
    f = loop.create_future()
    f.add_done_callback(lambda f: order.append("f-cb"))
    loop.call_soon(f.cancel)
    loop.call_soon(lambda: order.append("soon2"))
    try:
        await f
    except asyncio.CancelledError:
        order.append("main-saw-f-cancel")
asyncio.run(main())
print(" ".join(order))
)py";

TEST(TaskTest, CancellationCallbackOrderMatchesCPython) {
  EventLoop loop;
  Strings order;
  auto child = [&]() -> Coro<void> {
    try {
      co_await sleep(10);
    } catch (const CancelledError&) {
      order.push_back("child-cancelled");
      throw;
    }
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    Task<void> t = running.create_task(child());
    t.add_done_callback([&](Future<void>&) { order.push_back("done-cb"); });
    co_await sleep(0);
    running.call_soon([&] { order.push_back("soon"); });
    t.cancel();
    order.push_back("after-cancel");
    try {
      co_await t;
    } catch (const CancelledError&) {
      order.push_back("main-saw-cancel");
    }
    Future<void> f = running.create_future();
    f.add_done_callback([&](Future<void>&) { order.push_back("f-cb"); });
    running.call_soon([f]() mutable { f.cancel(); });
    running.call_soon([&] { order.push_back("soon2"); });
    try {
      co_await f;
    } catch (const CancelledError&) {
      order.push_back("main-saw-f-cancel");
    }
  };
  loop.run_until_complete(main_coro());
  EXPECT_EQ(join(order),
            "after-cancel soon child-cancelled done-cb main-saw-cancel soon2 f-cb "
            "main-saw-f-cancel");
  ::aio::testing::expect_same_as_cpython(join(order), kCancellationScenario);
}

TEST(TaskTest, SleepWaitsAtLeastTheDelayAndCanReturnAValue) {
  EventLoop loop;
  double start = loop.time();
  EXPECT_EQ(loop.run_until_complete(sleep(0.02, std::string("slept"))), "slept");
  EXPECT_GE(loop.time() - start, 0.02);
}

TEST(TaskTest, CancelDeliversCancelledErrorAtTheAwaitPoint) {
  EventLoop loop;
  Strings order;
  auto sleeper = [&]() -> Coro<int> {
    try {
      co_await sleep(3600);
    } catch (const CancelledError& e) {
      order.push_back(std::string("caught:") + e.what());
      co_return 1;  // the coroutine may swallow the cancellation
    }
    co_return 0;
  };
  Task<int> task = loop.create_task(sleeper());
  loop.call_later(0.001, [&] { EXPECT_TRUE(task.cancel("stop it")); });
  EXPECT_EQ(loop.run_until_complete(task), 1);
  EXPECT_FALSE(task.cancelled());
  EXPECT_EQ(order, Strings{"caught:stop it"});
}

TEST(TaskTest, UncaughtCancellationCancelsTheTask) {
  EventLoop loop;
  auto sleeper = []() -> Coro<int> {
    co_await sleep(3600);
    co_return 0;
  };
  Task<int> task = loop.create_task(sleeper());
  loop.call_later(0.001, [&] { task.cancel(); });
  EXPECT_THROW(loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(task.cancelled());
  EXPECT_FALSE(task.cancel()) << "already done";
}

TEST(TaskTest, CancelBeforeTheFirstStepNeverRunsTheBody) {
  EventLoop loop;
  bool ran = false;
  auto body = [&]() -> Coro<void> {
    ran = true;
    co_return;
  };
  Task<void> task = loop.create_task(body());
  EXPECT_TRUE(task.cancel());
  EXPECT_THROW(loop.run_until_complete(task), CancelledError);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(task.cancelled());
}

TEST(TaskTest, CancellingATaskCancelsTheTaskItAwaits) {
  EventLoop loop;
  auto inner_body = []() -> Coro<void> { co_await sleep(3600); };
  Task<void> inner = loop.create_task(inner_body());
  auto outer_body = [&]() -> Coro<void> { co_await inner; };
  Task<void> outer = loop.create_task(outer_body());
  loop.call_later(0.001, [&] { outer.cancel(); });
  EXPECT_THROW(loop.run_until_complete(outer), CancelledError);
  EXPECT_TRUE(outer.cancelled());
  EXPECT_TRUE(inner.cancelled());
}

TEST(TaskTest, CancellingTheRunningTaskRaisesAtItsNextAwait) {
  EventLoop loop;
  Strings order;
  Task<void> self;
  auto body = [&]() -> Coro<void> {
    self.cancel();
    order.push_back("still running");
    try {
      co_await sleep(0);
    } catch (const CancelledError&) {
      order.push_back("cancelled at await");
      throw;
    }
  };
  self = loop.create_task(body());
  EXPECT_THROW(loop.run_until_complete(self), CancelledError);
  EXPECT_EQ(order, (Strings{"still running", "cancelled at await"}));
}

TEST(TaskTest, NamesDefaultToTaskNAndCanBeChanged) {
  EventLoop loop;
  Task<int> named = loop.create_task(add_later(1, 2), "adder");
  EXPECT_EQ(named.get_name(), "adder");
  named.set_name("renamed");
  EXPECT_EQ(named.get_name(), "renamed");
  Task<int> unnamed = loop.create_task(add_later(1, 2));
  EXPECT_EQ(unnamed.get_name().rfind("Task-", 0), 0u);
  EXPECT_EQ(unnamed.repr(), "<Task pending name='" + unnamed.get_name() + "'>");
  loop.run_until_complete(named);
  loop.run_until_complete(unnamed);
  EXPECT_EQ(named.repr(), "<Task finished name='renamed'>");
}

TEST(TaskTest, ReprShowsWhatThePendingTaskWaitsFor) {
  EventLoop loop;
  Future<void> gate = loop.create_future();
  auto body = [&]() -> Coro<void> { co_await gate; };
  Task<void> task = loop.create_task(body(), "waiter");
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(task.repr(), "<Task pending name='waiter' wait_for=<Future pending>>");
  gate.set_result();
  loop.run_until_complete(task);
}

TEST(TaskTest, ReprInDebugModeShowsTheCreationSite) {
  EventLoop loop;
  loop.set_debug(true);
  int line = __LINE__ + 1;
  Task<int> task = loop.create_task(add_later(1, 2), "sited");
  std::string repr = task.repr();
  EXPECT_EQ(repr.rfind("<Task pending name='sited' created at ", 0), 0u) << repr;
  EXPECT_NE(repr.find("task_test.cc:" + std::to_string(line) + ">"), std::string::npos) << repr;
  loop.run_until_complete(task);
  EXPECT_EQ(task.repr().rfind("<Task finished name='sited' created at ", 0), 0u);
}

TEST(TaskTest, TasksAreFuturesButRefuseSetResult) {
  EventLoop loop;
  Task<int> task = loop.create_task(add_later(1, 1));
  Strings order;
  task.add_done_callback([&](Future<int>& f) { order.push_back(std::to_string(f.result())); });
  EXPECT_EQ(error_message([&] { task.set_result(5); }),
            "Task does not support set_result operation");
  EXPECT_EQ(error_message([&] { task.set_exception(ValueError("x")); }),
            "Task does not support set_exception operation");
  loop.run_until_complete(task);
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(order, Strings{"2"});
}

TEST(TaskTest, TaskAwaitingItselfFails) {
  EventLoop loop;
  Task<void> self;
  auto body = [&]() -> Coro<void> {
    co_await sleep(0);
    co_await self;
  };
  self = loop.create_task(body());
  EXPECT_EQ(error_message([&] {
              loop.run_until_complete(self);
            }).rfind("Task cannot await on itself: <Task pending", 0),
            0u);
}

TEST(TaskTest, FreeCreateTaskUsesTheRunningLoop) {
  EventLoop loop;
  auto body = [&]() -> Coro<int> {
    Task<int> inner = create_task(add_later(20, 22), "inner");
    EXPECT_EQ(&inner.get_loop(), &loop);
    EXPECT_EQ(inner.get_name(), "inner");
    co_return co_await inner;
  };
  EXPECT_EQ(loop.run_until_complete(body()), 42);
  EXPECT_EQ(error_message([] { create_task(add_later(1, 1)); }), "no running event loop");
}

TEST(TaskTest, GetRunningLoopInsideAndOutside) {
  EventLoop loop;
  EXPECT_EQ(error_message([] { get_running_loop(); }), "no running event loop");
  auto body = [&]() -> Coro<bool> { co_return &get_running_loop() == &loop; };
  EXPECT_TRUE(loop.run_until_complete(body()));
}

TEST(TaskTest, InterruptFromATaskPropagatesAndIsNotReportedAsUnretrieved) {
  LogCapture log;
  EventLoop loop;
  auto body = []() -> Coro<void> {
    co_await sleep(0);
    throw KeyboardInterrupt();
  };
  EXPECT_THROW(loop.run_until_complete(body()), KeyboardInterrupt);
  EXPECT_FALSE(loop.is_running());
  // No stale stop request: the next run goes on until its own future is done.
  EXPECT_EQ(loop.run_until_complete(sleep(0.001, 3)), 3);
  EXPECT_TRUE(log.records().empty()) << log.records()[0].message;
}

TEST(TaskTest, UnretrievedTaskExceptionIsReportedWhenTheTaskGoesAway) {
  EventLoop loop;
  std::vector<ExceptionContext> reports;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) { reports.push_back(c); });
  {
    auto body = []() -> Coro<void> {
      throw ValueError("nobody looks");
      co_return;
    };
    Task<void> task = loop.create_task(body(), "careless");
    loop.run_until_complete(sleep(0.001));
    EXPECT_TRUE(task.done());
  }
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task exception was never retrieved");
  EXPECT_EQ(reports[0].details.at("task"),
            "<Task finished name='careless' exception=aio::ValueError: nobody looks>");
}

TEST(TaskTest, PendingTaskLeftAtCloseIsReportedAndFreed) {
  auto captured = std::make_shared<int>(0);
  std::vector<ExceptionContext> reports;
  {
    EventLoop loop;
    loop.set_exception_handler(
        [&](EventLoop&, const ExceptionContext& c) { reports.push_back(c); });
    {
      Future<void> never = loop.create_future();
      // Parameters live in the coroutine frame (a lambda's captures would not).
      auto body = [](Future<void> gate, std::shared_ptr<int>) -> Coro<void> { co_await gate; };
      Task<void> task = loop.create_task(body(never, captured), "orphan");
      loop.stop();
      loop.run_forever();  // the task now waits on `never`
    }
    // Nothing outside refers to the task or the future: only their cycle keeps them alive.
    EXPECT_EQ(captured.use_count(), 2);
    loop.close();
    EXPECT_EQ(captured.use_count(), 1) << "close() broke the cycle";
  }
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task was destroyed but it is pending!");
  EXPECT_EQ(reports[0].details.at("task").repr.rfind("<Task pending name='orphan'", 0), 0u);
}

TEST(TaskTest, DebugModeWarnsAboutSlowTaskStepsNamingTheTask) {
  LogCapture log;
  EventLoop loop;
  loop.set_debug(true);
  loop.slow_callback_duration = 0.01;
  auto slow = []() -> Coro<void> {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    co_return;
  };
  loop.run_until_complete(loop.create_task(slow(), "slowpoke"));
  auto records = log.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message.rfind("Executing <Task ", 0), 0u) << records[0].message;
  EXPECT_NE(records[0].message.find("name='slowpoke'"), std::string::npos);
  EXPECT_NE(records[0].message.find("created at "), std::string::npos);
}

TEST(TaskTest, DebugModeReportsACoroutineThatWasNeverAwaited) {
  LogCapture log;
  EventLoop loop;
  loop.set_debug(true);
  auto body = [&]() -> Coro<void> {
    {
      Coro<int> forgotten = add_later(1, 2);  // made, then dropped without running
    }
    co_await add_later(1, 1);           // awaited: no report
    loop.create_task(add_later(2, 2));  // scheduled: no report either
    co_await sleep(0);
  };
  loop.run_until_complete(body());
  auto records = log.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::kWarning);
  EXPECT_EQ(records[0].message.rfind("coroutine '", 0), 0u) << records[0].message;
  EXPECT_NE(records[0].message.find("add_later"), std::string::npos) << records[0].message;
  EXPECT_NE(records[0].message.find("' was never awaited\nCoroutine created at"),
            std::string::npos);

  loop.set_debug(false);
  auto quiet = [&]() -> Coro<void> {
    {
      Coro<int> forgotten = add_later(1, 2);
    }
    co_return;
  };
  loop.run_until_complete(quiet());
  EXPECT_EQ(log.records().size(), 1u) << "only debug mode reports it";
}

TEST(TaskTest, MoveOnlyResultsThroughTasksAndFutures) {
  EventLoop loop;
  auto make = [](int value) -> Coro<std::unique_ptr<int>> {
    co_await sleep(0);
    co_return std::make_unique<int>(value);
  };
  auto user = [&]() -> Coro<int> {
    Task<std::unique_ptr<int>> task = create_task(make(20));
    std::unique_ptr<int> a = co_await task;                   // moved out of the task
    std::unique_ptr<int> b = co_await wait_for(make(22), 5);  // through wait_for's task
    co_return *a + *b;
  };
  EXPECT_EQ(loop.run_until_complete(user()), 42);
  std::unique_ptr<int> direct = loop.run_until_complete(make(7));
  EXPECT_EQ(*direct, 7);
}

TEST(TaskTest, CreateTaskOnAClosedLoopIsRefused) {
  EventLoop loop;
  loop.close();
  EXPECT_EQ(error_message([&] { loop.create_task(add_later(1, 2)); }), "Event loop is closed");
}

}  // namespace
}  // namespace aio
