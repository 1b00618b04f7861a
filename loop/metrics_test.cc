// EventLoop::metrics(): iterations, callbacks run, the last poll's timeout (the loop never
// busy-waits and never waits past the next timer), scheduled timers as asyncio counts
// loop._scheduled (cancelled ones until purged), and time in poll vs the rest.
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/event_loop.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using ::aio::testing::run_with_timeout;

TEST(LoopMetricsTest, CountsIterationsAndCallbacks) {
  EventLoop loop;
  EXPECT_EQ(loop.metrics().iterations, 0u);
  EXPECT_EQ(loop.metrics().callbacks_run, 0u);
  // Three callbacks in the first iteration, one in the second (queued by the first ones).
  loop.call_soon([] {});
  Handle cancelled = loop.call_soon([] {});
  loop.call_soon([] {});
  loop.call_soon([&] { loop.call_soon([&] { loop.stop(); }); });
  cancelled.cancel();
  loop.run_forever();
  LoopMetrics metrics = loop.metrics();
  EXPECT_EQ(metrics.iterations, 2u);
  EXPECT_EQ(metrics.callbacks_run, 4u) << "the cancelled handle does not count";
}

TEST(LoopMetricsTest, PollTimeoutIsZeroWhenSomethingIsReady) {
  EventLoop loop;
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(loop.metrics().last_poll_timeout, 0.0);
}

TEST(LoopMetricsTest, PollWaitsUntilTheNextTimerAndNotLonger) {
  EventLoop loop;
  std::vector<double> timeouts;
  // Each poll's timeout is read by the callback that runs right after that poll.
  loop.call_later(0.05, [&] {
    timeouts.push_back(loop.metrics().last_poll_timeout);
    loop.stop();
  });
  TimerHandle later = loop.call_later(30, [] {});
  run_with_timeout(loop);
  later.cancel();
  ASSERT_FALSE(timeouts.empty());
  EXPECT_GT(timeouts.back(), 0.0) << "a wait, not a busy loop";
  EXPECT_LE(timeouts.back(), 0.051) << "never past the first timer (rounded up to 1 ms)";
  // Waiting 50 ms takes a handful of iterations at most, not thousands.
  EXPECT_LE(loop.metrics().iterations, 5u);
  EXPECT_GE(loop.metrics().poll_time, 0.04);
}

TEST(LoopMetricsTest, PollWithoutTimersWaitsForAnEvent) {
  EventLoop loop;
  double timeout = 0;
  std::thread poster([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    loop.call_soon_threadsafe([&] {
      timeout = loop.metrics().last_poll_timeout;
      loop.stop();
    });
  });
  loop.run_forever();  // no timer at all (not even a watchdog): poll waits for the wakeup
  poster.join();
  EXPECT_EQ(timeout, -1.0);
}

TEST(LoopMetricsTest, ScheduledTimersKeepCancelledOnesUntilThePurge) {
  EventLoop loop;
  std::vector<TimerHandle> timers;
  for (int i = 0; i < 3; ++i) timers.push_back(loop.call_later(60, [] {}));
  timers[0].cancel();
  EXPECT_EQ(loop.metrics().scheduled_timers, 3u) << "asyncio: cancelled, still in _scheduled";
  EXPECT_EQ(loop.metrics().cancelled_timers, 1u);
  // Past 100 timers with more than half cancelled, the next iteration purges the heap.
  for (int i = 0; i < 200; ++i) timers.push_back(loop.call_later(60, [] {}));
  for (int i = 1; i < 150; ++i) timers[i].cancel();
  EXPECT_EQ(loop.metrics().scheduled_timers, 203u);
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(loop.metrics().scheduled_timers, 53u);
  EXPECT_EQ(loop.metrics().cancelled_timers, 0u);
  for (TimerHandle& timer : timers) timer.cancel();
}

TEST(LoopMetricsTest, RunTimeCountsCallbacksAndPollTimeCountsWaiting) {
  EventLoop loop;
  loop.call_soon([] {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
    while (std::chrono::steady_clock::now() < until) {
    }
  });
  loop.call_later(0.03, [&] { loop.stop(); });
  run_with_timeout(loop);
  LoopMetrics metrics = loop.metrics();
  EXPECT_GE(metrics.run_time, 0.025);
  EXPECT_LT(metrics.poll_time, metrics.run_time) << "the timer was due once the callback ended";
}

}  // namespace
}  // namespace aio
