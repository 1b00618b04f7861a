#include "loop/timer_queue.h"

#include <memory>
#include <source_location>
#include <vector>

#include "gtest/gtest.h"

namespace aio::internal {
namespace {

// Builds a timer state the way the loop does, without a loop (the queue never touches it).
HandleState* make_timer(double when, std::shared_ptr<int> captured = nullptr) {
  auto* state = new HandleState(
      nullptr, [captured] {}, HandleState::Kind::kTimer, typeid(void),
      std::source_location::current(), /*debug=*/false, /*initial_refs=*/1);
  state->when = when;
  return state;
}

std::vector<double> pop_all(TimerQueue& queue, double now) {
  std::vector<double> order;
  queue.pop_due(now, [&](HandleState* timer) {
    order.push_back(timer->when);
    timer->unref();
  });
  return order;
}

TEST(TimerQueueTest, PopsDueTimersInDeadlineOrder) {
  TimerQueue queue;
  for (double when : {5.0, 1.0, 3.0, 2.0, 4.0}) queue.push(make_timer(when));
  EXPECT_EQ(pop_all(queue, 3.0), (std::vector<double>{1.0, 2.0, 3.0}));
  double next;
  ASSERT_TRUE(queue.next_deadline(&next));
  EXPECT_EQ(next, 4.0);
  EXPECT_EQ(pop_all(queue, 10.0), (std::vector<double>{4.0, 5.0}));
  EXPECT_FALSE(queue.next_deadline(&next));
}

TEST(TimerQueueTest, EqualDeadlinesPopInPushOrder) {
  TimerQueue queue;
  std::vector<HandleState*> pushed;
  for (int i = 0; i < 20; ++i) {
    pushed.push_back(make_timer(1.0));
    queue.push(pushed.back());
  }
  std::vector<HandleState*> popped;
  queue.pop_due(1.0, [&](HandleState* t) { popped.push_back(t); });
  EXPECT_EQ(popped, pushed);
  for (HandleState* t : popped) t->unref();
}

TEST(TimerQueueTest, CancelledTopTimersArePrunedLazily) {
  TimerQueue queue;
  HandleState* first = make_timer(1.0);
  first->ref();  // the test keeps a reference, like a TimerHandle
  queue.push(first);
  queue.push(make_timer(2.0));
  first->cancelled = true;
  queue.note_cancelled();
  double next;
  ASSERT_TRUE(queue.next_deadline(&next));
  EXPECT_EQ(next, 2.0);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.cancelled_count(), 0u);
  EXPECT_FALSE(first->in_timer_queue);
  first->unref();
}

TEST(TimerQueueTest, PurgesWhenMoreThanHalfOfManyTimersAreCancelled) {
  TimerQueue queue;
  std::vector<HandleState*> timers;
  for (int i = 0; i < 200; ++i) {
    HandleState* t = make_timer(1000.0 - i);  // the live ones end up at the top
    t->ref();
    timers.push_back(t);
    queue.push(t);
  }
  // Cancel 101 timers with late deadlines: none of them is at the top.
  for (int i = 0; i < 101; ++i) {
    timers[i]->cancelled = true;
    queue.note_cancelled();
  }
  queue.prune();
  EXPECT_EQ(queue.size(), 99u) << "all cancelled timers dropped in one purge";
  EXPECT_EQ(queue.cancelled_count(), 0u);
  double next;
  ASSERT_TRUE(queue.next_deadline(&next));
  EXPECT_EQ(next, 1000.0 - 199);
  for (HandleState* t : timers) t->unref();
}

TEST(TimerQueueTest, FewCancelledTimersAreNotPurged) {
  TimerQueue queue;
  std::vector<HandleState*> timers;
  for (int i = 0; i < 50; ++i) {
    HandleState* t = make_timer(100.0 - i);
    t->ref();
    timers.push_back(t);
    queue.push(t);
  }
  for (int i = 0; i < 40; ++i) {
    timers[i]->cancelled = true;
    queue.note_cancelled();
  }
  queue.prune();
  EXPECT_EQ(queue.size(), 50u) << "below 100 timers, only the top is pruned";
  for (HandleState* t : timers) t->unref();
}

TEST(TimerQueueTest, ClearReleasesTimersAndTheirCallbacks) {
  auto captured = std::make_shared<int>(0);
  HandleState* kept = make_timer(1.0, captured);
  kept->ref();
  {
    TimerQueue queue;
    queue.push(kept);
    queue.push(make_timer(2.0, captured));
    EXPECT_EQ(captured.use_count(), 3);
  }
  EXPECT_EQ(captured.use_count(), 1);
  EXPECT_FALSE(kept->in_timer_queue);
  kept->unref();
}

}  // namespace
}  // namespace aio::internal
