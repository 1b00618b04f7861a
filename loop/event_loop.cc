#include "loop/event_loop.h"

#include <time.h>

#include <cmath>
#include <cstdio>
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
      debug_(debug_from_environment()) {
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

std::uint64_t EventLoop::adopt_resource(std::unique_ptr<internal::LoopResource> resource) {
  std::uint64_t id = next_resource_id_++;
  resources_.emplace(id, std::move(resource));
  return id;
}

internal::LoopResource* EventLoop::find_resource(std::uint64_t id) const {
  auto it = resources_.find(id);
  return it == resources_.end() ? nullptr : it->second.get();
}

void EventLoop::drop_resource(std::uint64_t id) {
  auto it = resources_.find(id);
  if (it == resources_.end()) return;
  std::unique_ptr<internal::LoopResource> resource = std::move(it->second);
  resources_.erase(it);  // destroyed after erasing: its destructor may touch the loop again
}

internal::LoopResource* EventLoop::extension(const void* key) const {
  auto it = extensions_.find(key);
  return it == extensions_.end() ? nullptr : it->second.get();
}

void EventLoop::set_extension(const void* key, std::unique_ptr<internal::LoopResource> service) {
  check_closed();
  extensions_[key] = std::move(service);
}

void EventLoop::set_default_executor(std::shared_ptr<Executor> executor) {
  default_executor_ = std::move(executor);
}

EventLoop* EventLoop::running_loop() noexcept { return t_running_loop; }

void EventLoop::unregister_child(internal::LoopChild* child) noexcept {
  std::size_t index = child->loop_child_index_;
  if (index >= children_.size() || children_[index] != child) return;
  children_[index] = children_.back();  // swap-remove: order does not matter
  children_[index]->loop_child_index_ = index;
  children_.pop_back();
}

double EventLoop::time() const noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void EventLoop::check_thread() const {
  if (running_ && t_running_loop != this) {
    throw RuntimeError(
        "Non-thread-safe operation invoked on an event loop other than the current one");
  }
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

// --- Scheduling ---------------------------------------------------------------------------------

Handle EventLoop::schedule_soon(State* state) {
  ready_.push_back(state);
  return Handle(state);
}

TimerHandle EventLoop::schedule_timer(double when, State* state) {
  state->when = when;
  timers_.push(state);
  return TimerHandle(state);
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

// --- fd watchers --------------------------------------------------------------------------------

void EventLoop::add_watcher(int fd, std::uint32_t event, State* state) {
  Handle owner(state);  // released if registration fails
  check_closed();
  if (fd < 0) throw ValueError("Invalid file descriptor: " + std::to_string(fd));
  if (fd >= static_cast<int>(watches_.size())) watches_.resize(fd + 1);
  FdWatch& watch = watches_[fd];
  std::uint32_t events = watch.events | event;
  // Always tell the poller, even if the interest looks unchanged: the fd may have been closed
  // and its number reused since, and then epoll has silently forgotten it.
  if (int err = poller_->update(fd, watch.events, events)) throw_os_error(err);
  watch.events = events;
  State*& slot = event == internal::kReadable ? watch.reader : watch.writer;
  if (slot != nullptr) {
    Handle(slot).cancel();  // the replaced callback; drops the watch's reference
  }
  slot = owner.release();  // the creation reference becomes the watch's
}

void EventLoop::set_fd_owner(int fd, const internal::FdOwner* owner) {
  if (fd < 0) return;
  if (fd >= static_cast<int>(watches_.size())) watches_.resize(fd + 1);
  watches_[fd].owner = owner;
}

void EventLoop::throw_fd_owned(int fd) const {
  throw RuntimeError("File descriptor " + std::to_string(fd) + " is used by transport " +
                     watches_[fd].owner->repr());
}

bool EventLoop::remove_watcher(int fd, std::uint32_t event) {
  if (closed_) return false;
  if (fd < 0) throw ValueError("Invalid file descriptor: " + std::to_string(fd));
  if (fd >= static_cast<int>(watches_.size())) return false;
  FdWatch& watch = watches_[fd];
  State*& slot = event == internal::kReadable ? watch.reader : watch.writer;
  if (slot == nullptr) return false;
  std::uint32_t events = watch.events & ~event;
  // Cannot fail for a removal except on a broken poller; the callback goes away regardless.
  poller_->update(fd, watch.events, events);
  watch.events = events;
  Handle(std::exchange(slot, nullptr)).cancel();
  return true;
}

void EventLoop::dispatch_io(int fd, std::uint32_t events) {
  if (fd >= static_cast<int>(watches_.size())) return;
  FdWatch& watch = watches_[fd];
  if ((events & internal::kReadable) && watch.reader && !watch.reader->cancelled) {
    watch.reader->ref();
    ready_.push_back(watch.reader);
  }
  if ((events & internal::kWritable) && watch.writer && !watch.writer->cancelled) {
    watch.writer->ref();
    ready_.push_back(watch.writer);
  }
}

// --- One iteration ------------------------------------------------------------------------------

int EventLoop::poll_timeout_ms() {
  timers_.prune();
  if (!ready_.empty() || stopping_ || threadsafe_pending_.load(std::memory_order_acquire)) {
    return 0;
  }
  double deadline;
  if (!timers_.next_deadline(&deadline)) return -1;
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
  if (debug_) {
    double took = time() - start;
    if (took >= slow_callback_duration) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.3f", took);
      std::string name =
          state->describe ? state->describe(state->describe_arg) : Handle::borrow(state).repr();
      log(LogLevel::kWarning, "Executing " + name + " took " + seconds + " seconds");
    }
  }
}

}  // namespace aio
