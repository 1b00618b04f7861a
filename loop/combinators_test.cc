// ensure_future, shield, wait_for and gather, with asyncio 3.8's semantics.
#include "loop/combinators.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/coro_test_util.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using Strings = std::vector<std::string>;

using ::aio::testing::fail_after;
using ::aio::testing::value_after;

TEST(EnsureFutureTest, FuturesPassThroughCoroutinesBecomeTasks) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_TRUE(ensure_future(f) == f);
  auto body = [&]() -> Coro<int> {
    Task<int> task = ensure_future(value_after(0, 5));
    co_return co_await task;
  };
  EXPECT_EQ(loop.run_until_complete(body()), 5);
  Task<int> on_loop = ensure_future(value_after(0, 6), &loop);
  EXPECT_EQ(loop.run_until_complete(on_loop), 6);
  EXPECT_THROW(ensure_future(value_after(0, 1)), RuntimeError) << "no running loop";
}

// The wait_for tests run on virtual time (testing::virtual_time()): each outcome comes at an
// exact instant, which the tests check, and a slow machine cannot reorder the timers.
TEST(WaitForTest, ReturnsTheResultWithinTheTimeout) {
  EventLoop loop(testing::virtual_time());
  EXPECT_EQ(loop.run_until_complete(wait_for(value_after(0.001, 3), 5.0)), 3);
  EXPECT_DOUBLE_EQ(loop.time(), 0.001) << "the result, not the timeout, ended the wait";
}

TEST(WaitForTest, TimeoutCancelsAndAwaitsTheInnerTaskThenRaisesTimeoutError) {
  EventLoop loop(testing::virtual_time());
  Strings order;
  auto at = [&](const char* what) { return what + ("@" + std::to_string(loop.time())); };
  auto slow = [&]() -> Coro<int> {
    bool cancelled = false;
    try {
      co_await sleep(3600);
    } catch (const CancelledError&) {
      order.push_back(at("inner cancelled"));
      cancelled = true;
    }
    if (cancelled) {
      co_await sleep(0.001);  // cleanup that takes time: wait_for must wait for it
      order.push_back(at("inner cleaned up"));
      throw CancelledError();
    }
    co_return 0;
  };
  auto body = [&]() -> Coro<void> {
    Task<int> inner = get_running_loop().create_task(slow());
    try {
      co_await wait_for(Future<int>(inner), 0.01);
    } catch (const TimeoutError&) {
      order.push_back(at("timeout"));
    }
    EXPECT_TRUE(inner.cancelled());
  };
  loop.run_until_complete(body());
  // The timeout at 0.01; TimeoutError only once the inner task's 1 ms cleanup is over.
  EXPECT_EQ(order,
            (Strings{"inner cancelled@0.010000", "inner cleaned up@0.011000", "timeout@0.011000"}));
}

TEST(WaitForTest, ZeroTimeoutOnAPendingFutureCancelsIt) {
  EventLoop loop(testing::virtual_time());
  auto body = [&]() -> Coro<bool> {
    Task<int> inner = get_running_loop().create_task(value_after(1, 1));
    try {
      co_await wait_for(Future<int>(inner), 0);
    } catch (const TimeoutError&) {
      co_return inner.cancelled();
    }
    co_return false;
  };
  EXPECT_TRUE(loop.run_until_complete(body()));
  EXPECT_EQ(loop.time(), 0.0) << "a zero timeout waits for no timer";
  Future<int> done = loop.create_future<int>();
  done.set_result(4);
  EXPECT_EQ(loop.run_until_complete(wait_for(done, 0)), 4);
}

TEST(WaitForTest, InnerExceptionPropagates) {
  EventLoop loop;
  EXPECT_THROW(loop.run_until_complete(wait_for(fail_after(0, "inner"), 5.0)), ValueError);
}

TEST(WaitForTest, CancellingTheWaiterCancelsTheInnerTask) {
  EventLoop loop(testing::virtual_time());
  Task<int> inner;
  auto body = [&]() -> Coro<int> {
    inner = get_running_loop().create_task(value_after(3600, 1));
    co_return co_await wait_for(Future<int>(inner), 3600);
  };
  Task<int> outer = loop.create_task(body());
  loop.call_later(0.005, [&] { outer.cancel(); });
  EXPECT_THROW(loop.run_until_complete(outer), CancelledError);
  EXPECT_DOUBLE_EQ(loop.time(), 0.005) << "ended by the cancellation, not by a timeout";
  EXPECT_TRUE(inner.cancelled());
}

TEST(ShieldTest, CancellingTheShieldDoesNotCancelTheInnerTask) {
  EventLoop loop;
  Task<int> inner = loop.create_task(value_after(0.005, 9));
  Future<int> shielded = shield(Future<int>(inner));
  EXPECT_FALSE(shielded == Future<int>(inner));
  EXPECT_TRUE(shielded.cancel());
  EXPECT_EQ(loop.run_until_complete(inner), 9);
  EXPECT_TRUE(shielded.cancelled());
}

TEST(ShieldTest, CopiesTheOutcomeAndReturnsDoneFuturesAsTheyAre) {
  EventLoop loop;
  Future<int> shielded = shield(Future<int>(loop.create_task(value_after(0, 2))));
  EXPECT_EQ(loop.run_until_complete(shielded), 2);
  Future<int> failing = shield(Future<int>(loop.create_task(fail_after(0, "x"))));
  EXPECT_THROW(loop.run_until_complete(failing), ValueError);
  Future<int> done = loop.create_future<int>();
  done.set_result(1);
  EXPECT_TRUE(shield(done) == done);
}

TEST(ShieldTest, TaskAwaitingAShieldIsCancelledButTheInnerGoesOn) {
  EventLoop loop;
  Future<void> gate = loop.create_future();
  auto gated = [](Future<void> open, int value) -> Coro<int> {
    co_await open;
    co_return value;
  };
  Task<int> inner = loop.create_task(gated(gate, 7));
  auto waiter = [&]() -> Coro<int> { co_return co_await shield(Future<int>(inner)); };
  Task<int> outer = loop.create_task(waiter());
  loop.call_soon([&] { outer.cancel(); });
  EXPECT_THROW(loop.run_until_complete(outer), CancelledError);
  EXPECT_FALSE(inner.done()) << "the shield kept the cancellation away from the inner task";
  gate.set_result();
  EXPECT_EQ(loop.run_until_complete(inner), 7);
}

TEST(GatherTest, ResultsComeInInputOrder) {
  EventLoop loop;
  auto body = []() -> Coro<std::vector<int>> {
    std::vector<Coro<int>> coros;
    coros.push_back(value_after(0.003, 1));
    coros.push_back(value_after(0.001, 2));
    coros.push_back(value_after(0.002, 3));
    co_return co_await gather(std::move(coros));
  };
  EXPECT_EQ(loop.run_until_complete(body()), (std::vector<int>{1, 2, 3}));
}

TEST(GatherTest, EmptyGatherResolvesAtOnce) {
  EventLoop loop;
  auto body = []() -> Coro<size_t> {
    co_return (co_await gather(std::vector<Future<int>>{})).size();
  };
  EXPECT_EQ(loop.run_until_complete(body()), 0u);
}

TEST(GatherTest, FirstExceptionPropagatesOthersKeepRunning) {
  EventLoop loop;
  Future<int> slow = loop.create_future<int>();  // completed by the test, after the failure
  Task<int> failing = loop.create_task(fail_after(0.001, "first"));
  Future<std::vector<int>> all = gather(std::vector<Future<int>>{slow, failing});
  EXPECT_THROW(loop.run_until_complete(all), ValueError);
  EXPECT_FALSE(slow.cancelled()) << "not cancelled by the failure";
  loop.call_soon([slow]() mutable { slow.set_result(1); });
  EXPECT_EQ(loop.run_until_complete(slow), 1);
}

TEST(GatherTest, CancellingTheGatherCancelsEveryChild) {
  EventLoop loop;
  Task<int> a = loop.create_task(value_after(3600, 1));
  Task<int> b = loop.create_task(value_after(3600, 2));
  Future<std::vector<int>> all = gather(std::vector<Future<int>>{a, b});
  loop.call_later(0.001, [&] { EXPECT_TRUE(all.cancel()); });
  EXPECT_THROW(loop.run_until_complete(all), CancelledError);
  EXPECT_TRUE(a.cancelled());
  EXPECT_TRUE(b.cancelled());
}

TEST(GatherTest, ChildCancellationFailsTheGatherWithCancelledError) {
  EventLoop loop;
  Task<int> a = loop.create_task(value_after(3600, 1));
  Task<int> b = loop.create_task(value_after(0.01, 2));
  Future<std::vector<int>> all = gather(std::vector<Future<int>>{a, b});
  loop.call_later(0.001, [&] { a.cancel(); });
  EXPECT_THROW(loop.run_until_complete(all), CancelledError);
  EXPECT_FALSE(all.cancelled()) << "asyncio sets CancelledError as the exception";
  EXPECT_EQ(loop.run_until_complete(b), 2);
}

TEST(GatherTest, ReturnExceptionsCollectsEveryOutcome) {
  EventLoop loop;
  Task<int> ok = loop.create_task(value_after(0.002, 1));
  Task<int> failing = loop.create_task(fail_after(0.001, "boom"));
  Task<int> cancelled = loop.create_task(value_after(3600, 3));
  loop.call_soon([&] { cancelled.cancel(); });
  Future<std::vector<Outcome<int>>> all =
      gather(std::vector<Future<int>>{ok, failing, cancelled}, return_exceptions);
  std::vector<Outcome<int>> outcomes = loop.run_until_complete(all);
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[0].ok());
  EXPECT_EQ(outcomes[0].get(), 1);
  EXPECT_FALSE(outcomes[1].ok());
  EXPECT_THROW(outcomes[1].get(), ValueError);
  EXPECT_THROW(std::rethrow_exception(outcomes[2].exception), CancelledError);
  EXPECT_FALSE(all.cancelled());
}

TEST(GatherTest, ReturnExceptionsStillFailsWhenTheGatherItselfIsCancelled) {
  EventLoop loop;
  std::vector<Coro<int>> coros;
  coros.push_back(value_after(3600, 1));
  coros.push_back(value_after(3600, 2));
  auto body = [](std::vector<Coro<int>> c) -> Coro<std::size_t> {
    Future<std::vector<Outcome<int>>> all = gather(std::move(c), return_exceptions);
    get_running_loop().call_soon([all]() mutable { all.cancel(); });
    co_return (co_await all).size();
  };
  EXPECT_THROW(loop.run_until_complete(body(std::move(coros))), CancelledError);
}

TEST(GatherTest, VoidChildrenGiveMonostates) {
  EventLoop loop;
  std::vector<Coro<void>> coros;
  coros.push_back(sleep(0));
  coros.push_back(sleep(0.001));
  auto body = [](std::vector<Coro<void>> c) -> Coro<size_t> {
    co_return (co_await gather(std::move(c))).size();
  };
  EXPECT_EQ(loop.run_until_complete(body(std::move(coros))), 2u);
}

}  // namespace
}  // namespace aio
