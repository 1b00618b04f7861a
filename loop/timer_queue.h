// The loop's scheduled timers: a binary min-heap on (deadline, sequence number).
//
// The sequence number makes equal deadlines fire in scheduling order (FIFO), which asyncio does
// not promise but every user expects. Cancellation is lazy: a cancelled timer stays in the heap
// until it reaches the top or until more than half of 100+ timers are cancelled, when the heap
// is rebuilt without them (CPython's _run_once rule), so cancel stays O(1).
#ifndef AIO_LOOP_TIMER_QUEUE_H_
#define AIO_LOOP_TIMER_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "loop/handle.h"

namespace aio::internal {

class TimerQueue {
 public:
  // Purge thresholds (CPython: _MIN_SCHEDULED_TIMER_HANDLES, _MIN_CANCELLED_..._FRACTION).
  static constexpr std::size_t kMinTimersForPurge = 100;
  static constexpr double kCancelledFractionForPurge = 0.5;

  TimerQueue() = default;
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;
  ~TimerQueue() { clear(); }

  // Adds a timer; the queue takes over one reference to `timer`.
  void push(HandleState* timer);

  // Called when a timer still in the queue is cancelled.
  void note_cancelled() noexcept { ++cancelled_; }

  // Drops cancelled timers: all of them if they are too many, else those at the top.
  void prune();

  // True if a live timer remains after prune(); its deadline in *when.
  bool next_deadline(double* when);

  // Moves every live timer with deadline <= now, in deadline order, to `sink` (which takes over
  // the queue's reference). Cancelled timers met on the way are released.
  template <class Sink>
  void pop_due(double now, Sink&& sink) {
    while (!heap_.empty() && heap_.front().when <= now) {
      HandleState* timer = pop_top();
      if (timer->cancelled) {
        --cancelled_;
        timer->unref();
      } else {
        sink(timer);
      }
    }
  }

  // Releases every timer and its callback (loop close).
  void clear();

  std::size_t size() const noexcept { return heap_.size(); }
  std::size_t cancelled_count() const noexcept { return cancelled_; }

 private:
  struct Entry {
    double when;
    std::uint64_t sequence;
    HandleState* timer;
  };
  // std heap algorithms build a max-heap; this orders the earliest deadline first.
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const noexcept {
      return a.when != b.when ? a.when > b.when : a.sequence > b.sequence;
    }
  };

  HandleState* pop_top();

  std::vector<Entry> heap_;
  std::uint64_t next_sequence_ = 0;
  std::size_t cancelled_ = 0;
};

}  // namespace aio::internal

#endif  // AIO_LOOP_TIMER_QUEUE_H_
