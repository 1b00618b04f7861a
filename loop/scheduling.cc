// Callback scheduling: the ready queue (call_soon), the timer heap (call_later/call_at) and the
// thread-safe queue other threads post to (call_soon_threadsafe, LoopPoster), which run_once()
// moves onto the ready queue.
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "loop/event_loop.h"

namespace aio {

bool internal::LoopPoster::post(absl::AnyInvocable<void()> callback) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (loop_ == nullptr) return false;
  try {
    loop_->call_soon_threadsafe(std::move(callback));
    return true;
  } catch (const RuntimeError&) {
    return false;  // closed
  }
}

void internal::LoopPoster::detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  loop_ = nullptr;
}

Handle EventLoop::schedule_soon(State* state) {
  ready_.push_back(state);
  return Handle(state);
}

TimerHandle EventLoop::schedule_timer(double when, State* state) {
  state->when = when;
  timers_.push(state);
  return TimerHandle(state);
}

double EventLoop::next_timer_when() {
  timers_.prune();
  double deadline;
  return timers_.next_deadline(&deadline) ? deadline : std::numeric_limits<double>::infinity();
}

void EventLoop::take_threadsafe_callbacks() {
  if (!threadsafe_pending_.load(std::memory_order_acquire)) return;
  // Drain before clearing the flag: a producer that sees the flag cleared writes the eventfd
  // again, and that write must survive until the next poll (else its callback could wait
  // for an unrelated event: a lost wakeup).
  wakeup_->drain();
  threadsafe_pending_.store(false, std::memory_order_seq_cst);
  std::vector<State*> batch;
  {
    std::lock_guard<std::mutex> lock(threadsafe_mutex_);
    batch.swap(threadsafe_queue_);
  }
  for (State* state : batch) ready_.push_back(state);
}

}  // namespace aio
