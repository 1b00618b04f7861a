// wait, as_completed, current_task, all_tasks and run_coroutine_threadsafe.
#include "loop/waiting.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "testing/coro_test_util.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::join;
using Strings = std::vector<std::string>;

using ::aio::testing::fail_after;
using ::aio::testing::value_after;

std::vector<int> values(const std::vector<Future<int>>& futures) {
  std::vector<int> out;
  for (const Future<int>& f : futures) out.push_back(f.result());
  return out;
}

TEST(CurrentTaskTest, InsideATaskAndOutside) {
  EventLoop loop(::aio::testing::virtual_time());
  auto body = [&]() -> Coro<std::string> {
    std::optional<TaskRef> me = current_task();
    co_return me ? me->get_name() : "none";
  };
  EXPECT_EQ(loop.run_until_complete(loop.create_task(body(), "me")), "me");
  bool outside_none = false;
  loop.call_soon([&] {
    outside_none = !current_task(&loop).has_value();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(outside_none) << "a plain callback runs in no task";
  EXPECT_EQ(error_message([] { current_task(); }), "no running event loop");
}

TEST(AllTasksTest, ListsPendingTasksOnly) {
  EventLoop loop(::aio::testing::virtual_time());
  Task<int> quick = loop.create_task(value_after(0, 1), "quick");
  Task<int> slow = loop.create_task(value_after(3600, 2), "slow");
  auto body = [&]() -> Coro<Strings> {
    co_await quick;
    Strings names;
    for (TaskRef& task : all_tasks()) names.push_back(task.get_name());
    std::sort(names.begin(), names.end());
    co_return names;
  };
  Strings names = loop.run_until_complete(loop.create_task(body(), "main"));
  EXPECT_EQ(names, (Strings{"main", "slow"}));
  slow.cancel();
  EXPECT_THROW(loop.run_until_complete(slow), CancelledError);
  EXPECT_TRUE(all_tasks(&loop).empty());
}

TEST(WaitTest, AllCompletedFirstCompletedFirstException) {
  EventLoop loop(::aio::testing::virtual_time());
  auto body = [&]() -> Coro<Strings> {
    EventLoop& l = get_running_loop();
    Strings report;
    std::vector<Future<int>> fs{l.create_task(value_after(0.002, 1)),
                                l.create_task(value_after(0.001, 2))};
    WaitResult<int> all = co_await wait(fs);
    report.push_back("all:" + std::to_string(all.done.size()) + "/" +
                     std::to_string(all.pending.size()));
    // The slow ones wait on a gate the test opens later: no timing assumption.
    Future<void> gate = l.create_future();
    auto gated = [](Future<void> open, int value) -> Coro<int> {
      co_await open;
      co_return value;
    };
    std::vector<Future<int>> gs{l.create_task(gated(gate, 1)),
                                l.create_task(value_after(0.001, 2))};
    WaitResult<int> first = co_await wait(gs, -1, FIRST_COMPLETED);
    report.push_back("first:" + std::to_string(values(first.done)[0]) + " pending " +
                     std::to_string(first.pending.size()));
    std::vector<Future<int>> hs{l.create_task(gated(gate, 1)),
                                l.create_task(fail_after(0.001, "x")),
                                l.create_task(gated(gate, 3))};
    WaitResult<int> failed = co_await wait(hs, -1, FIRST_EXCEPTION);
    report.push_back("exception:" + std::to_string(failed.done.size()) + "/" +
                     std::to_string(failed.pending.size()));
    gate.set_result();
    co_await wait(gs);  // let the rest finish: nothing was cancelled
    co_await wait(hs);
    report.push_back(gs[0].cancelled() || hs[0].cancelled() ? "cancelled!" : "none cancelled");
    co_return report;
  };
  EXPECT_EQ(loop.run_until_complete(body()),
            (Strings{"all:2/0", "first:2 pending 1", "exception:1/2", "none cancelled"}));
}

TEST(WaitTest, TimeoutSplitsWithoutCancellingOrRaising) {
  EventLoop loop(::aio::testing::virtual_time());
  auto body = [&]() -> Coro<std::string> {
    EventLoop& l = get_running_loop();
    std::vector<Future<int>> fs{l.create_task(value_after(0, 1)),
                                l.create_task(value_after(3600, 2))};
    WaitResult<int> r = co_await wait(fs, 0.01);
    std::string text = std::to_string(r.done.size()) + "/" + std::to_string(r.pending.size());
    text += r.pending[0].cancelled() ? " cancelled" : " still pending";
    r.pending[0].cancel();
    co_return text;
  };
  EXPECT_EQ(loop.run_until_complete(body()), "1/1 still pending");
  EXPECT_EQ(error_message([&] { loop.run_until_complete(wait(std::vector<Future<int>>{})); }),
            "Set of coroutines/Futures is empty.");
}

TEST(AsCompletedTest, YieldsInCompletionOrderWithExceptions) {
  EventLoop loop(::aio::testing::virtual_time());
  auto body = [&]() -> Coro<Strings> {
    EventLoop& l = get_running_loop();
    std::vector<Future<int>> fs{l.create_task(value_after(0.003, 3)),
                                l.create_task(fail_after(0.002, "two")),
                                l.create_task(value_after(0.001, 1))};
    Strings order;
    for (Coro<int> next : as_completed(fs)) {
      try {
        order.push_back(std::to_string(co_await std::move(next)));
      } catch (const ValueError& e) {
        order.push_back(e.what());
      }
    }
    co_return order;
  };
  EXPECT_EQ(loop.run_until_complete(body()), (Strings{"1", "two", "3"}));
}

TEST(AsCompletedTest, TimeoutRaisesForTheRest) {
  EventLoop loop(::aio::testing::virtual_time());
  auto body = [&]() -> Coro<Strings> {
    EventLoop& l = get_running_loop();
    Task<int> slow = l.create_task(value_after(3600, 2));
    std::vector<Future<int>> fs{l.create_task(value_after(0, 1)), slow};
    Strings order;
    auto completed = as_completed(fs, 0.01);
    EXPECT_EQ(completed.size(), 2u);
    for (Coro<int> next : completed) {
      bool timed_out = false;
      try {
        order.push_back(std::to_string(co_await std::move(next)));
      } catch (const TimeoutError&) {
        timed_out = true;
      }
      if (timed_out) order.push_back("timeout");
    }
    order.push_back(slow.cancelled() ? "slow cancelled" : "slow still running");
    slow.cancel();
    co_return order;
  };
  EXPECT_EQ(loop.run_until_complete(body()), (Strings{"1", "timeout", "slow still running"}));
}

// Run by CPython on a virtual clock (kPythonVirtualTime), as ours runs on virtual_time().
constexpr const char* kWaitScenario = R"py(
order = []
async def job(name, delay):
    await asyncio.sleep(delay)
    order.append(name)
    return name
async def main():
    loop = asyncio.get_running_loop()
    fs = [loop.create_task(job("a", 0.03)), loop.create_task(job("b", 0.01)), loop.create_task(job("c", 0.02))]
    done, pending = await asyncio.wait(fs, return_when=asyncio.FIRST_COMPLETED)
    order.append("wait:%d/%d" % (len(done), len(pending)))
    for next in asyncio.as_completed(pending):
        order.append("got-" + await next)
run_virtual(main())
print(" ".join(order))
)py";

TEST(WaitTest, OrderMatchesCPython) {
  EventLoop loop(::aio::testing::virtual_time());
  Strings order;
  auto job = [&](std::string name, double delay) -> Coro<std::string> {
    co_await sleep(delay);
    order.push_back(name);
    co_return name;
  };
  auto body = [&]() -> Coro<void> {
    EventLoop& l = get_running_loop();
    std::vector<Future<std::string>> fs{l.create_task(job("a", 0.03)),
                                        l.create_task(job("b", 0.01)),
                                        l.create_task(job("c", 0.02))};
    WaitResult<std::string> r = co_await wait(fs, -1, FIRST_COMPLETED);
    order.push_back("wait:" + std::to_string(r.done.size()) + "/" +
                    std::to_string(r.pending.size()));
    for (Coro<std::string> next : as_completed(r.pending)) {
      order.push_back("got-" + co_await std::move(next));
    }
  };
  loop.run_until_complete(body());
  EXPECT_EQ(join(order), "b wait:1/2 c got-c a got-a");
  ::aio::testing::expect_same_as_cpython(
      join(order), std::string(::aio::testing::kPythonVirtualTime) + kWaitScenario);
}

TEST(RunCoroutineThreadsafeTest, ResultReachesTheOtherThread) {
  EventLoop loop;
  int result = 0;
  std::string failure;
  std::thread caller([&] {
    ConcurrentFuture<int> f = run_coroutine_threadsafe(value_after(0.001, 7), loop);
    result = f.result(10);
    ConcurrentFuture<int> bad = run_coroutine_threadsafe(fail_after(0, "remote"), loop);
    failure = error_message([&] { bad.result(10); });
    loop.call_soon_threadsafe([&] { loop.stop(); });
  });
  testing::run_with_timeout(loop, 20);
  caller.join();
  EXPECT_EQ(result, 7);
  EXPECT_EQ(failure, "remote");
}

TEST(RunCoroutineThreadsafeTest, CancellingFromTheOtherThreadCancelsTheTask) {
  EventLoop loop;
  bool task_saw_cancel = false;
  auto sleeper = [&]() -> Coro<int> {
    try {
      co_await sleep(3600);
    } catch (const CancelledError&) {
      task_saw_cancel = true;
      throw;
    }
    co_return 0;
  };
  std::string timeout_text;
  std::thread caller([&] {
    ConcurrentFuture<int> f = run_coroutine_threadsafe(sleeper(), loop);
    try {
      f.result(0.02);
    } catch (const TimeoutError&) {
      timeout_text = "timed out";
    }
    EXPECT_TRUE(f.cancel());
    loop.call_soon_threadsafe([&] { loop.call_later(0.01, [&] { loop.stop(); }); });
  });
  testing::run_with_timeout(loop, 20);
  caller.join();
  EXPECT_EQ(timeout_text, "timed out");
  EXPECT_TRUE(task_saw_cancel);
}

TEST(RunCoroutineThreadsafeTest, ClosedLoopRefusesAndClosingCancelsWhatNeverStarted) {
  auto loop = std::make_unique<EventLoop>();
  ConcurrentFuture<int> never_started = run_coroutine_threadsafe(value_after(0, 1), *loop);
  loop->close();  // the job was queued but never ran
  EXPECT_TRUE(never_started.cancelled());
  EXPECT_EQ(error_message([&] { run_coroutine_threadsafe(value_after(0, 1), *loop); }),
            "Event loop is closed");

  EventLoop running;
  ConcurrentFuture<int> pending = run_coroutine_threadsafe(value_after(3600, 1), running);
  running.call_later(0.01, [&] { running.stop(); });
  running.run_forever();  // the task started and now waits
  running.close();
  EXPECT_TRUE(pending.cancelled()) << "the waiting thread is not left hanging";
}

}  // namespace
}  // namespace aio
