#include "loop/timer_queue.h"

#include <algorithm>

namespace aio::internal {

void TimerQueue::push(HandleState* timer) {
  timer->in_timer_queue = true;
  heap_.push_back(Entry{timer->when, next_sequence_++, timer});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

HandleState* TimerQueue::pop_top() {
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  HandleState* timer = heap_.back().timer;
  heap_.pop_back();
  timer->in_timer_queue = false;
  return timer;
}

void TimerQueue::prune() {
  if (heap_.size() > kMinTimersForPurge &&
      static_cast<double>(cancelled_) / static_cast<double>(heap_.size()) >
          kCancelledFractionForPurge) {
    auto live_end = std::partition(heap_.begin(), heap_.end(),
                                   [](const Entry& e) { return !e.timer->cancelled; });
    for (auto it = live_end; it != heap_.end(); ++it) {
      it->timer->in_timer_queue = false;
      it->timer->unref();
    }
    heap_.erase(live_end, heap_.end());
    std::make_heap(heap_.begin(), heap_.end(), Later{});
    cancelled_ = 0;
    return;
  }
  while (!heap_.empty() && heap_.front().timer->cancelled) {
    --cancelled_;
    pop_top()->unref();
  }
}

bool TimerQueue::next_deadline(double* when) {
  prune();
  if (heap_.empty()) return false;
  *when = heap_.front().when;
  return true;
}

void TimerQueue::clear() {
  for (Entry& e : heap_) {
    e.timer->in_timer_queue = false;
    e.timer->callback = nullptr;  // discarded: release what it captured even if a handle remains
    e.timer->unref();
  }
  heap_.clear();
  cancelled_ = 0;
}

}  // namespace aio::internal
