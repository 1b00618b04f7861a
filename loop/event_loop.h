// aio::EventLoop: asyncio's event loop (the "Event Loop Methods" of the spec).
//
// One loop runs on one thread at a time. Everything here is for the loop's own thread unless
// it says "thread-safe"; use call_soon_threadsafe to reach the loop from elsewhere.
#ifndef AIO_LOOP_EVENT_LOOP_H_
#define AIO_LOOP_EVENT_LOOP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <source_location>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "loop/errors.h"
#include "loop/exception_context.h"
#include "loop/handle.h"
#include "loop/poller.h"
#include "loop/ready_queue.h"
#include "loop/timer_queue.h"
#include "loop/wakeup.h"

namespace aio {

template <class T>
class Future;
template <class T>
class Coro;
template <class T>
class Task;
class Executor;
class TaskRef;

// loop.set_task_factory(): called with every task create_task() makes, before its first step
// is scheduled (if it throws, create_task throws and the task never runs); it may rename,
// instrument or track the task (see docs/API.md for why it does not construct the task itself).
using TaskFactory = std::function<void(EventLoop&, TaskRef)>;

namespace internal {
// Reaches a loop from any thread, safely even while (or after) the loop is closed and
// destroyed: other threads hold this, never the loop itself.
class LoopPoster {
 public:
  explicit LoopPoster(EventLoop* loop) : loop_(loop) {}
  // call_soon_threadsafe(callback) if the loop still accepts callbacks; false otherwise (the
  // callback is then destroyed on the calling thread).
  bool post(absl::AnyInvocable<void()> callback);
  void detach();

 private:
  std::mutex mutex_;
  EventLoop* loop_;  // guarded by mutex_
};

// What owns an fd the loop watches on its behalf (a transport): add_reader() and friends refuse
// such an fd, naming its owner, as asyncio does.
class FdOwner {
 public:
  virtual std::string repr() const = 0;

 protected:
  ~FdOwner() = default;
};

// An object the loop owns for another thread's sake (e.g. the future a thread-pool job will
// complete): the other thread refers to it by id only, and it is destroyed on the loop thread,
// when its job is done or when the loop closes.
class LoopResource {
 public:
  virtual ~LoopResource() = default;
};

// Something running on the loop that close() must break up if it is still pending: a task
// whose coroutine waits on a future nobody will complete keeps itself alive through that
// future's callback (a reference cycle Python's GC would collect). close() tells each one.
class LoopChild {
 public:
  virtual std::shared_ptr<void> pin() = 0;  // keeps it alive while close() works on it
  virtual void abandon() noexcept = 0;      // drop the coroutine frame and what it awaits

 protected:
  ~LoopChild() = default;

 private:
  friend class aio::EventLoop;
  std::size_t loop_child_index_ = 0;  // position in the loop's list: O(1) removal
};
}  // namespace internal

struct EventLoopOptions {
  PollerKind poller = PollerKind::kDefault;
  // Virtual time, for tests: time() starts at 0 and moves only by advance_time(), or, with
  // auto_advance, by jumping straight to the next timer whenever the loop has nothing else to
  // do (nothing ready, no I/O event already there), as Tokio's paused clock. Real fds still
  // work on such a loop: it polls them without waiting while a timer is pending, and waits for
  // them for real when none is. See docs/API.md ("Testing your code").
  bool virtual_time = false;
  bool auto_advance = false;
};

// EventLoop::metrics(): counters since the loop was made.
struct LoopMetrics {
  // Iterations of the loop (calls of asyncio's _run_once).
  std::uint64_t iterations = 0;
  // Callbacks run (handles, timers, I/O callbacks; cancelled ones skipped are not counted).
  std::uint64_t callbacks_run = 0;
  // The timeout of the last poll in seconds: 0 when something was ready, -1 for "until an
  // event" (no timer), else up to the first live timer's deadline (rounded up to 1 ms).
  double last_poll_timeout = 0;
  // Timers in the queue, cancelled ones included until the queue purges them (asyncio's
  // len(loop._scheduled)).
  std::size_t scheduled_timers = 0;
  // Of those, cancelled and not yet purged.
  std::size_t cancelled_timers = 0;
  // Seconds spent waiting in the poller, and running everything else (callbacks, timer and I/O
  // dispatch) while the loop ran.
  double poll_time = 0;
  double run_time = 0;
};

class EventLoop {
 public:
  // asyncio's cap on one wait (MAXIMUM_SELECT_TIMEOUT): longer timer delays are waited out in
  // 24-hour steps, so absurd delays never overflow the poller's timeout.
  static constexpr double kMaxPollTimeout = 24 * 3600;

  explicit EventLoop(EventLoopOptions options = {});
  ~EventLoop();  // closes the loop if it is not closed
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // --- Running and stopping -----------------------------------------------------------------

  // Runs until stop(). Refused (RuntimeError) on a closed loop, a running loop, and while
  // another loop runs on this thread. An Interrupt from a callback propagates out; the loop
  // stays usable and the callbacks not yet run stay queued.
  void run_forever();
  // Runs until `future` is done and returns its result (or rethrows its exception). ValueError
  // for a future of another loop; RuntimeError("Event loop stopped before Future completed.")
  // if stop() ends the run first. A Task is a Future; a coroutine is wrapped in a new Task.
  // Defined in loop/future.h and loop/task.h.
  template <class T>
  T run_until_complete(Future<T> future);
  template <class T>
  T run_until_complete(Coro<T> coro);
  void stop() noexcept { stopping_ = true; }
  bool is_running() const noexcept { return running_; }
  bool is_closed() const noexcept { return closed_; }
  // RuntimeError("Event loop is closed") once closed (asyncio's _check_closed). Every loop
  // method of aio's packages calls it before it touches a file descriptor.
  void check_closed() const {
    if (closed_) throw RuntimeError("Event loop is closed");
  }
  // Discards queued callbacks and timers, releases the loop's fds. Idempotent; RuntimeError
  // while running.
  void close();

  // --- Scheduling callbacks -----------------------------------------------------------------

  template <class F>
  Handle call_soon(F&& callback, std::source_location where = std::source_location::current());
  // Thread-safe; wakes the loop if it is waiting in poll. Called on the loop's own thread (the
  // one running it, or when it is not running, the one that ran it last or created it), the
  // callback joins the one ready queue, in FIFO order with call_soon, as in asyncio.
  template <class F>
  Handle call_soon_threadsafe(F&& callback,
                              std::source_location where = std::source_location::current());
  template <class F>
  TimerHandle call_later(double delay, F&& callback,
                         std::source_location where = std::source_location::current());
  template <class Rep, class Period, class F>
  TimerHandle call_later(std::chrono::duration<Rep, Period> delay, F&& callback,
                         std::source_location where = std::source_location::current()) {
    return call_later(std::chrono::duration<double>(delay).count(), std::forward<F>(callback),
                      where);
  }
  template <class F>
  TimerHandle call_at(double when, F&& callback,
                      std::source_location where = std::source_location::current());
  // Seconds on the loop's monotonic clock (CLOCK_MONOTONIC), or its virtual clock.
  double time() const noexcept;
  // Virtual time only (EventLoopOptions::virtual_time): moves the clock forward by `seconds`,
  // running everything that becomes due on the way in order, each timer at its own time, and
  // what those schedule for the same time, with the I/O they make watchable (the loop polls
  // again at an instant where callbacks ran); then returns. The loop must not be running.
  // ValueError for negative seconds; RuntimeError on a real-time or running loop.
  void advance_time(double seconds);
  bool has_virtual_time() const noexcept { return virtual_time_; }
  // When the earliest live timer is due (loop.time() clock), or +infinity without one: what a
  // test on virtual time advances to (asyncio's loop._scheduled[0].when()).
  double next_timer_when();

  // What the loop has done so far (libuv's uv_metrics_info, Tokio's RuntimeMetrics; what asyncio
  // users read from _scheduled and by counting _run_once). Loop thread only; cheap to read.
  LoopMetrics metrics() const noexcept;

  // --- Futures ------------------------------------------------------------------------------

  // A pending Future<T> attached to this loop (defined in loop/future.h).
  template <class T = void>
  Future<T> create_future(std::source_location where = std::source_location::current());

  // Schedules `coro` as a Task (its first step via call_soon, never synchronously). An empty
  // name becomes "Task-N". Defined in loop/task.h.
  template <class T>
  Task<T> create_task(Coro<T> coro, std::string name = "",
                      std::source_location where = std::source_location::current());

  // --- Executors ----------------------------------------------------------------------------

  // Runs fn() in `executor` (null: the default ThreadPoolExecutor, created on first use) and
  // returns a loop future for its value. Cancelling the future cancels the job if it has not
  // started; a job that ends after its future was cancelled, or after the loop closed, posts
  // nothing. Defined in loop/run_in_executor.h.
  template <class F>
  auto run_in_executor(Executor* executor, F&& fn);
  void set_default_executor(std::shared_ptr<Executor> executor);
  // Shuts the default executor down, waiting (on a helper thread) for its jobs. Defined in
  // loop/run_in_executor.cc.
  Coro<void> shutdown_default_executor();
  // Internal: keeps `resource` until drop_resource(id) or close(); loop thread only.
  std::uint64_t adopt_resource(std::unique_ptr<internal::LoopResource> resource);
  internal::LoopResource* find_resource(std::uint64_t id) const;
  void drop_resource(std::uint64_t id);
  // Per-loop services made on first use (a DNS channel...), keyed by an address the service
  // owns; destroyed on this thread when the loop closes. Loop thread only.
  internal::LoopResource* extension(const void* key) const;
  void set_extension(const void* key, std::unique_ptr<internal::LoopResource> service);
  // Internal: the thread-safe way back to this loop.
  const std::shared_ptr<internal::LoopPoster>& poster() const noexcept { return poster_; }

  // An empty factory restores the default (no hook).
  void set_task_factory(TaskFactory factory) { task_factory_ = std::move(factory); }
  // The factory, or an empty one if the default is in use.
  TaskFactory get_task_factory() const { return task_factory_; }

  // --- Watching file descriptors ------------------------------------------------------------

  // Calls `callback` whenever fd is readable (writable), until removed. A second add replaces
  // the first. ValueError for a negative fd; OSError (e.g. EBADF, or EPERM for a regular file
  // under epoll) if the poller refuses it, and then nothing is registered.
  // RuntimeError("File descriptor N is used by transport ...") for an fd a transport owns.
  template <class F>
  void add_reader(int fd, F&& callback,
                  std::source_location where = std::source_location::current()) {
    check_fd_unowned(fd);
    watch_reader(fd, std::forward<F>(callback), where);
  }
  template <class F>
  void add_writer(int fd, F&& callback,
                  std::source_location where = std::source_location::current()) {
    check_fd_unowned(fd);
    watch_writer(fd, std::forward<F>(callback), where);
  }
  // True if a callback was registered and is now removed; takes effect in the poller at once.
  bool remove_reader(int fd) {
    check_fd_unowned(fd);
    return remove_watcher(fd, internal::kReadable);
  }
  bool remove_writer(int fd) {
    check_fd_unowned(fd);
    return remove_watcher(fd, internal::kWritable);
  }

  // Internal: what transports use on the fd they own (no ownership check).
  template <class F>
  void watch_reader(int fd, F&& callback,
                    std::source_location where = std::source_location::current()) {
    add_watcher(fd, internal::kReadable,
                make_state(std::forward<F>(callback), where, kWatcher, /*refs=*/1));
  }
  template <class F>
  void watch_writer(int fd, F&& callback,
                    std::source_location where = std::source_location::current()) {
    add_watcher(fd, internal::kWritable,
                make_state(std::forward<F>(callback), where, kWatcher, /*refs=*/1));
  }
  bool unwatch_reader(int fd) { return remove_watcher(fd, internal::kReadable); }
  bool unwatch_writer(int fd) { return remove_watcher(fd, internal::kWritable); }
  // Internal: marks `fd` as owned by `owner` (nullptr: released) until released.
  void set_fd_owner(int fd, const internal::FdOwner* owner);

  // --- Error handling -----------------------------------------------------------------------

  // An empty handler restores the default one.
  void set_exception_handler(ExceptionHandler handler) { exception_handler_ = std::move(handler); }
  // The custom handler, or an empty one if the default is in use.
  ExceptionHandler get_exception_handler() const { return exception_handler_; }
  // Logs the context through aio::log (ERROR), one "key: value" line per key.
  void default_exception_handler(const ExceptionContext& context);
  // Calls the current handler; a handler that throws is itself reported by the default one.
  // Never throws, except an Interrupt.
  void call_exception_handler(const ExceptionContext& context);

  // --- Debug mode ---------------------------------------------------------------------------

  // Starts true if AIO_DEBUG is set to a non-empty string (asyncio: PYTHONASYNCIODEBUG).
  bool get_debug() const noexcept { return debug_; }
  void set_debug(bool enabled) noexcept { debug_ = enabled; }
  // In debug mode, callbacks that run longer than this (seconds) are logged as warnings.
  double slow_callback_duration = 0.1;

  // --- Introspection ------------------------------------------------------------------------

  std::string_view poller_name() const noexcept { return poller_name_; }
  // The loop running on the calling thread, or nullptr (asyncio._get_running_loop).
  static EventLoop* running_loop() noexcept;

  // Internal: tasks register here while they exist (see LoopChild).
  void register_child(internal::LoopChild* child) {
    child->loop_child_index_ = children_.size();
    children_.push_back(child);
  }
  void unregister_child(internal::LoopChild* child) noexcept;
  const std::vector<internal::LoopChild*>& children() const noexcept { return children_; }

  // Internal: call_soon without a Handle to return (one reference fewer to count), for the
  // loop's own machinery: future callbacks and task steps. A slow-callback warning names the
  // handle `describe(arg)` if given (a task step names its task).
  template <class F>
  void post_soon(F&& callback, std::string (*describe)(const void*) = nullptr,
                 const void* arg = nullptr,
                 std::source_location where = std::source_location::current()) {
    check_closed();
    State* state = make_state(std::forward<F>(callback), where, kOneShot, /*refs=*/1);
    state->describe = describe;
    state->describe_arg = arg;
    ready_.push_back(state);
  }

  // Internal: a token that reads nullptr once this loop is destroyed, for objects (futures)
  // that may outlive it and must not touch it then.
  const std::shared_ptr<EventLoop*>& liveness() const noexcept { return liveness_; }

 private:
  friend class Handle;
  using State = internal::HandleState;
  static constexpr State::Kind kOneShot = State::Kind::kOneShot;
  static constexpr State::Kind kTimer = State::Kind::kTimer;
  static constexpr State::Kind kWatcher = State::Kind::kWatcher;

  struct FdWatch {
    State* reader = nullptr;  // owned references
    State* writer = nullptr;
    std::uint32_t events = 0;
    const internal::FdOwner* owner = nullptr;  // the transport using the fd, if any
  };

  void check_fd_unowned(int fd) const {
    if (fd >= 0 && fd < static_cast<int>(watches_.size()) && watches_[fd].owner != nullptr) {
      throw_fd_owned(fd);
    }
  }
  [[noreturn]] void throw_fd_owned(int fd) const;

  template <class F>
  // A new handle state with `refs` references: by default 2, one for the queue it goes to and
  // one for the returned handle (cheaper than adding the second one later).
  State* make_state(F&& callback, std::source_location where, State::Kind kind,
                    std::uint32_t refs = 2) {
    return new State(this, Callback(std::forward<F>(callback)), kind, typeid(std::decay_t<F>),
                     where, debug_, refs);
  }

  void jump_to_next_timer_if_idle();  // auto-advance (virtual time)
  void check_thread() const;          // debug mode: refuse non-thread-safe calls from other threads
  // Debug mode: logs "Executing <handle> took N seconds" if `took` >= slow_callback_duration.
  void report_if_slow(State* state, double took) const;
  void check_runnable() const;
  template <class T>
  T run_future_until_complete(Future<T> future, bool owned_task);

  // Queue a fresh state made with 2 references (the queue's and the returned handle's).
  Handle schedule_soon(State* state);
  TimerHandle schedule_timer(double when, State* state);
  void add_watcher(int fd, std::uint32_t event, State* state);
  bool remove_watcher(int fd, std::uint32_t event);
  void on_timer_cancelled() noexcept { timers_.note_cancelled(); }

  void run_once();
  int poll_timeout_ms();
  void take_threadsafe_callbacks();
  void dispatch_io(int fd, std::uint32_t events);
  void run_handle(State* state);
  void report_callback_error(State* state, std::exception_ptr error);

  std::unique_ptr<internal::Poller> poller_;
  std::string_view poller_name_;
  std::unique_ptr<internal::Wakeup> wakeup_;  // reset by close(), under threadsafe_mutex_
  internal::RingQueue<State*> ready_;
  internal::TimerQueue timers_;
  std::vector<FdWatch> watches_;                          // indexed by fd
  std::vector<std::pair<int, std::uint32_t>> io_events_;  // one poll's results

  std::mutex threadsafe_mutex_;
  std::vector<State*> threadsafe_queue_;  // guarded by threadsafe_mutex_
  std::atomic<bool> threadsafe_pending_{false};
  // The thread whose call_soon_threadsafe calls go straight to ready_ (guarded by
  // threadsafe_mutex_): the creator, then whichever thread runs the loop. Handing it over under
  // the mutex orders the last direct push before the new thread's first look at ready_.
  std::thread::id owner_thread_ = std::this_thread::get_id();

  LoopMetrics metrics_;
  double iteration_start_ = 0;  // when the current iteration's poll began (metrics)

  ExceptionHandler exception_handler_;
  std::shared_ptr<EventLoop*> liveness_;
  std::vector<internal::LoopChild*> children_;
  std::shared_ptr<internal::LoopPoster> poster_;
  absl::flat_hash_map<std::uint64_t, std::unique_ptr<internal::LoopResource>> resources_;
  absl::flat_hash_map<const void*, std::unique_ptr<internal::LoopResource>> extensions_;
  std::uint64_t next_resource_id_ = 1;
  std::shared_ptr<Executor> default_executor_;
  TaskFactory task_factory_;
  bool executor_shutdown_called_ = false;
  bool stopping_ = false;
  bool running_ = false;
  bool closed_ = false;
  bool debug_ = false;
  // Virtual time (EventLoopOptions): the clock, and whether idle iterations jump to the next
  // timer. never_block_ is set while advance_time() runs the loop: polls do not wait then.
  bool virtual_time_ = false;
  bool auto_advance_ = false;
  bool never_block_ = false;
  double virtual_now_ = 0;
};

// --- Template definitions ---------------------------------------------------------------------

template <class F>
Handle EventLoop::call_soon(F&& callback, std::source_location where) {
  check_closed();
  if (debug_) check_thread();
  return schedule_soon(make_state(std::forward<F>(callback), where, kOneShot));
}

template <class F>
Handle EventLoop::call_soon_threadsafe(F&& callback, std::source_location where) {
  State* state = make_state(std::forward<F>(callback), where, kOneShot);
  {
    std::lock_guard<std::mutex> lock(threadsafe_mutex_);
    if (closed_) {
      state->unref();
      state->unref();
      throw RuntimeError("Event loop is closed");
    }
    if (owner_thread_ == std::this_thread::get_id()) {
      ready_.push_back(state);  // the loop's own thread: FIFO with call_soon
      return Handle(state);
    }
    threadsafe_queue_.push_back(state);
    // One wakeup per batch: the loop clears the flag before it takes the queue.
    if (!threadsafe_pending_.exchange(true, std::memory_order_acq_rel)) wakeup_->notify();
  }
  return Handle(state);
}

template <class F>
TimerHandle EventLoop::call_later(double delay, F&& callback, std::source_location where) {
  return call_at(time() + delay, std::forward<F>(callback), where);
}

template <class F>
TimerHandle EventLoop::call_at(double when, F&& callback, std::source_location where) {
  check_closed();
  if (debug_) check_thread();
  if (when != when) throw ValueError("call_at: when is NaN");
  return schedule_timer(when, make_state(std::forward<F>(callback), where, kTimer));
}

}  // namespace aio

#endif  // AIO_LOOP_EVENT_LOOP_H_
