// The event loop's life cycle: construction, run_forever / stop / close, and run_once, the
// table of contents of one iteration (poll, then thread-safe callbacks, I/O callbacks and due
// timers onto the ready queue, then run what is ready). The other concerns live beside it:
// scheduling.cc (ready queue, timers, thread-safe queue), fd_watchers.cc (add_reader & co),
// debug_checks.cc (debug mode), loop_resources.cc (resources, extensions, children),
// exception_handler.cc (call_exception_handler), handle.cc (Handle/TimerHandle).
#include "loop/event_loop.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "loop/executor.h"
#include "loop/keyboard_interrupt.h"
#include "loop/logging.h"

namespace aio {
namespace {

thread_local EventLoop* t_running_loop = nullptr;

bool debug_from_environment() {
  const char* value = std::getenv("AIO_DEBUG");
  return value != nullptr && *value != '\0';
}

// Restores the loop's running state however run_forever() exits (return or exception).
class RunningScope {
 public:
  RunningScope(EventLoop* loop, bool* running, bool* stopping)
      : running_(running), stopping_(stopping) {
    *running_ = true;
    t_running_loop = loop;
  }
  ~RunningScope() {
    *stopping_ = false;
    *running_ = false;
    t_running_loop = nullptr;
  }

 private:
  bool* running_;
  bool* stopping_;
};

}  // namespace

EventLoop::EventLoop(EventLoopOptions options)
    : poller_(internal::make_poller(options.poller)),
      poller_name_(poller_->name()),
      wakeup_(std::make_unique<internal::Wakeup>()),
      liveness_(std::make_shared<EventLoop*>(this)),
      poster_(std::make_shared<internal::LoopPoster>(this)),
      debug_(debug_from_environment()),
      virtual_time_(options.virtual_time),
      auto_advance_(options.virtual_time && options.auto_advance) {
  if (int err = poller_->update(wakeup_->fd(), 0, internal::kReadable)) {
    throw_os_error(err, "registering the wakeup fd");
  }
}

EventLoop::~EventLoop() {
  if (!closed_ && !running_) close();
  poster_->detach();
  *liveness_ = nullptr;
  default_executor_.reset();  // joins its threads: their jobs may still be running
}

EventLoop* EventLoop::running_loop() noexcept { return t_running_loop; }

double EventLoop::time() const noexcept {
  if (virtual_time_) return virtual_now_;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void EventLoop::check_runnable() const {
  check_closed();
  if (running_) throw RuntimeError("This event loop is already running");
  if (t_running_loop != nullptr) {
    throw RuntimeError("Cannot run the event loop while another loop is running");
  }
}

void EventLoop::run_forever() {
  check_runnable();
  {
    std::lock_guard<std::mutex> lock(threadsafe_mutex_);
    owner_thread_ = std::this_thread::get_id();
  }
  RunningScope scope(this, &running_, &stopping_);
  iteration_start_ = time();
  internal::KeyboardInterruptScope ctrl_c(*wakeup_);  // Ctrl-C (loop/keyboard_interrupt.h)
  while (true) {
    run_once();
    if (stopping_) break;
  }
  internal::raise_pending_keyboard_interrupt(*wakeup_);  // one during the last iteration
}

void EventLoop::close() {
  if (running_) throw RuntimeError("Cannot close a running event loop");
  if (closed_) return;
  std::vector<State*> threadsafe;
  {
    std::lock_guard<std::mutex> lock(threadsafe_mutex_);
    closed_ = true;
    threadsafe.swap(threadsafe_queue_);
    wakeup_.reset();
  }
  // Discarded callbacks are released now, even if someone still holds their handles.
  auto discard = [](State* state) {
    state->callback = nullptr;
    state->unref();
  };
  for (State* state : threadsafe) discard(state);
  while (!ready_.empty()) discard(ready_.pop_front());
  timers_.clear();
  // What other threads were to complete goes now, on this thread; so do per-loop services.
  auto resources = std::move(resources_);
  resources.clear();
  auto extensions = std::move(extensions_);
  extensions.clear();
  // Tasks still pending now can never finish: break their cycles so they are destroyed (and
  // reported as "Task was destroyed but it is pending!").
  std::vector<std::shared_ptr<void>> pinned;
  for (internal::LoopChild* child : children_) pinned.push_back(child->pin());
  for (internal::LoopChild* child : std::vector<internal::LoopChild*>(children_)) {
    child->abandon();
  }
  pinned.clear();
  for (int fd = 0; fd < static_cast<int>(watches_.size()); ++fd) {
    if (watches_[fd].events) poller_->update(fd, watches_[fd].events, 0);
    for (State* state : {watches_[fd].reader, watches_[fd].writer}) {
      if (state == nullptr) continue;
      state->cancelled = true;
      state->callback = nullptr;
      state->unref();
    }
  }
  watches_.clear();
  poller_.reset();
  // asyncio: close() shuts the default executor down without waiting for it.
  if (default_executor_) default_executor_->shutdown(false);
}

// --- One iteration ------------------------------------------------------------------------------

int EventLoop::poll_timeout_ms() {
  timers_.prune();
  if (!ready_.empty() || stopping_ || never_block_ ||
      threadsafe_pending_.load(std::memory_order_acquire)) {
    return 0;
  }
  double deadline;
  if (!timers_.next_deadline(&deadline)) return -1;
  // Virtual time: waiting in the poller cannot make a timer due. Poll without waiting when
  // auto-advance will move the clock or a timer is already due; else wait for I/O (or another
  // thread) only. (advance_time() never waits: never_block_ above.)
  if (virtual_time_) return auto_advance_ || deadline <= virtual_now_ ? 0 : -1;
  // iteration_start_ was read just now, at the end of the previous iteration (or by run_forever).
  double timeout = std::min(std::max(0.0, deadline - iteration_start_), kMaxPollTimeout);
  // Round up: waking before the deadline would only cost another wait.
  return static_cast<int>(std::ceil(timeout * 1000));
}

void EventLoop::run_once() {
  io_events_.clear();
  int timeout_ms = poll_timeout_ms();
  metrics_.last_poll_timeout = timeout_ms < 0 ? -1.0 : timeout_ms / 1000.0;
  ++metrics_.iterations;
  int err = poller_->poll(
      timeout_ms, [this](int fd, std::uint32_t events) { io_events_.emplace_back(fd, events); });
  // One clock read per iteration: it ends this poll, starts the run phase and is the "now" of
  // the due timers; the next iteration's start is the previous one's end (no second read).
  // Auto-advance, unless advance_time() is the one moving the clock (never_block_).
  if (auto_advance_ && !never_block_) jump_to_next_timer_if_idle();
  double now = time();
  metrics_.poll_time += now - iteration_start_;
  if (err) throw_os_error(err, "poll");
  internal::raise_pending_keyboard_interrupt(*wakeup_);  // Ctrl-C: before taking anything new
  // asyncio appends thread-safe callbacks to the ready queue when they are made, so they come
  // before this iteration's I/O callbacks.
  take_threadsafe_callbacks();
  for (auto [fd, events] : io_events_) {
    if (fd == wakeup_->fd()) continue;  // drained by take_threadsafe_callbacks
    dispatch_io(fd, events);
  }
  timers_.pop_due(now, [this](State* timer) { ready_.push_back(timer); });

  // Run only what is queued now; callbacks scheduled by these wait for the next iteration.
  for (std::size_t n = ready_.size(); n > 0; --n) {
    State* state = ready_.pop_front();
    if (state->cancelled) {
      state->unref();
      continue;
    }
    ++metrics_.callbacks_run;
    run_handle(state);
  }
  iteration_start_ = time();
  metrics_.run_time += iteration_start_ - now;
}

// --- Virtual time --------------------------------------------------------------------------------

void EventLoop::jump_to_next_timer_if_idle() {
  // Idle: nothing ready, no I/O event from this poll, no thread-safe callback, not stopping.
  if (!ready_.empty() || !io_events_.empty() || stopping_ ||
      threadsafe_pending_.load(std::memory_order_acquire)) {
    return;
  }
  double deadline;
  if (timers_.next_deadline(&deadline) && deadline > virtual_now_) virtual_now_ = deadline;
}

void EventLoop::advance_time(double seconds) {
  if (!virtual_time_) throw RuntimeError("advance_time() needs a loop with virtual time");
  if (!(seconds >= 0)) throw ValueError("advance_time() needs seconds >= 0");
  check_runnable();
  const double target = virtual_now_ + seconds;
  RunningScope scope(this, &running_, &stopping_);
  struct NeverBlock {
    bool* flag;
    ~NeverBlock() { *flag = false; }
  } never_block{&never_block_};
  never_block_ = true;
  iteration_start_ = time();
  while (!stopping_) {
    const std::uint64_t ran_before = metrics_.callbacks_run;
    run_once();
    if (!ready_.empty()) continue;  // what those callbacks scheduled for the same time
    // Callbacks ran: poll once more at this instant before the clock moves, as auto-advance's
    // idle check does. One may have made I/O watchable that is already there (a timer re-arming
    // a listener with connections queued); that I/O belongs to this instant, not the next.
    if (metrics_.callbacks_run != ran_before) continue;
    double deadline;
    timers_.prune();
    if (timers_.next_deadline(&deadline) && deadline <= target) {
      virtual_now_ = std::max(virtual_now_, deadline);
    } else if (virtual_now_ < target) {
      virtual_now_ = target;  // one more pass: I/O and callbacks at the target time
    } else {
      break;
    }
  }
}

LoopMetrics EventLoop::metrics() const noexcept {
  LoopMetrics metrics = metrics_;
  metrics.scheduled_timers = timers_.size();
  metrics.cancelled_timers = timers_.cancelled_count();
  return metrics;
}

void EventLoop::run_handle(State* state) {
  // Drops the queue's reference and, unless the handle watches an fd, the callback, on every
  // exit. A callback that cancels its own handle is destroyed only after it returns.
  struct Finish {
    State* state;
    ~Finish() {
      state->running = false;
      if (state->kind != kWatcher || state->cancelled) state->callback = nullptr;
      state->unref();
    }
  } finish{state};
  state->running = true;
  double start = debug_ ? time() : 0;
  try {
    state->callback();
  } catch (const Interrupt&) {
    throw;
  } catch (...) {
    report_callback_error(state, std::current_exception());
  }
  if (debug_) report_if_slow(state, time() - start);
}

}  // namespace aio
