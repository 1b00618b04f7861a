// asyncio's synchronization primitives: Lock, Event, Condition, Semaphore, BoundedSemaphore.
//
//   aio::Lock lock;
//   {
//     aio::LockGuard guard = co_await lock.scoped();   // `async with lock:`
//     ...                                              // released on every path out
//   }
//   co_await lock.acquire();                           // or by hand
//   lock.release();
//
// NOT thread-safe, exactly like asyncio's: they coordinate the tasks of one event loop and must
// be used from that loop's thread only (to hand work between threads, use the loop's thread-safe
// entry points, e.g. call_soon_threadsafe or run_coroutine_threadsafe).
//
// Loop binding is asyncio 3.10's: a primitive may be created anywhere (no loop needed); the first
// time it has to make a task wait it binds to the running loop, and waiting on it from another
// loop later is a RuntimeError("<aio::Lock [...]> is bound to a different event loop"). An
// uncontended acquire never binds, never touches the loop and never suspends.
//
// Semantics are asyncio 3.8's, rule by rule (each comment names the rule), with these choices:
// - Waiting is FIFO. A waiter cancelled while it waits leaves the queue. A waiter that is
//   cancelled after it was woken (its wake-up future already done, its task not yet resumed)
//   does not swallow the wake-up: Lock and Semaphore pass it to the next waiter (asyncio's
//   _wake_up_first logic).
// - Semaphore hands a released permit directly to the first waiter (the fair semaphore of
//   asyncio 3.11.1+): a task that calls acquire() after a release() can never overtake a task
//   that was already waiting. (3.8's semaphore let late comers barge in and could starve a
//   waiter.) locked() is simply "no permit left": a permit already handed to a woken waiter is
//   not free, any other one is.
// - Condition::wait() that is cancelled after it was notified passes the notification to the
//   next waiter (as asyncio 3.13 does; 3.8 lost it). A waiter cancelled before it was notified
//   consumes nothing, so no spurious wake-up is produced.
// - A waiting task whose coroutine frame is destroyed without resuming (a pending task
//   abandoned when its loop closes) simply leaves the queue: it wakes nobody, since its loop is
//   gone.
//
// The waiters' bookkeeping lives in state shared with the waiting coroutines, so destroying a
// primitive while tasks still wait on it is safe (those tasks then wait until cancelled or until
// their loop closes). A guard (LockGuard, ...) must not outlive its primitive, as with
// std::lock_guard.
#ifndef AIO_LOOP_LOCKS_H_
#define AIO_LOOP_LOCKS_H_

#include <concepts>
#include <exception>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "loop/coro.h"
#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/future.h"
#include "loop/logging.h"
#include "loop/loop_binding.h"
#include "loop/task.h"

namespace aio {

class Lock;
class Condition;
class Semaphore;

// The guard that `co_await primitive.scoped()` returns: it owns one acquisition of the primitive
// and releases it when destroyed (`async with` without the `with`). Movable, not copyable. A
// release that fails in the destructor (someone released the primitive behind the guard's back,
// or the loop is closed) cannot propagate from a destructor: it is logged at ERROR level.
template <class Primitive>
class [[nodiscard]] ReleaseGuard {
 public:
  ReleaseGuard() = default;
  explicit ReleaseGuard(Primitive& primitive) noexcept : primitive_(&primitive) {}
  ReleaseGuard(ReleaseGuard&& other) noexcept
      : primitive_(std::exchange(other.primitive_, nullptr)) {}
  ReleaseGuard& operator=(ReleaseGuard&& other) noexcept {
    if (this != &other) {
      release_quietly();
      primitive_ = std::exchange(other.primitive_, nullptr);
    }
    return *this;
  }
  ReleaseGuard(const ReleaseGuard&) = delete;
  ReleaseGuard& operator=(const ReleaseGuard&) = delete;
  ~ReleaseGuard() { release_quietly(); }

  // True while the guard still owns an acquisition.
  bool owns() const noexcept { return primitive_ != nullptr; }
  explicit operator bool() const noexcept { return owns(); }
  // Releases now (errors propagate); afterwards the guard owns nothing. No-op if it owns nothing.
  void release() {
    if (Primitive* primitive = std::exchange(primitive_, nullptr)) primitive->release();
  }

 private:
  void release_quietly() noexcept {
    try {
      release();
    } catch (...) {
      log(LogLevel::kError, "aio: a lock guard could not release on destruction: " +
                                describe_exception(std::current_exception()));
    }
  }

  Primitive* primitive_ = nullptr;
};

using LockGuard = ReleaseGuard<Lock>;
using ConditionGuard = ReleaseGuard<Condition>;
using SemaphoreGuard = ReleaseGuard<Semaphore>;

namespace internal {

// Waiters in arrival order. A list: each waiter removes its own entry in O(1) and iterators stay
// valid while others come and go.
using WaiterList = std::list<Future<void>>;

// One waiter's place in a WaiterList: added on construction, removed on every path out of the
// waiting coroutine (return, exception, or destruction of a suspended frame).
class WaiterEntry {
 public:
  WaiterEntry(WaiterList& list, Future<void> future)
      : list_(&list), it_(list.insert(list.end(), std::move(future))) {}
  WaiterEntry(const WaiterEntry&) = delete;
  WaiterEntry& operator=(const WaiterEntry&) = delete;
  ~WaiterEntry() { remove(); }

  // The wake-up future (valid until remove()).
  const Future<void>& future() const noexcept { return *it_; }
  // True if the future was resolved with a result: this waiter was woken (or notified).
  bool woken() const noexcept { return it_->done() && !it_->cancelled(); }
  void remove() noexcept {
    if (list_ != nullptr) list_->erase(it_);
    list_ = nullptr;
  }

 private:
  WaiterList* list_;
  WaiterList::iterator it_;
};

inline std::string waiters_suffix(const WaiterList& waiters) {
  return waiters.empty() ? "" : ", waiters:" + std::to_string(waiters.size());
}

// --- Lock -------------------------------------------------------------------------------------

struct LockState {
  bool locked = false;
  WaiterList waiters;
  LoopBinding binding;

  std::string repr() const {
    return std::string("<aio::Lock [") + (locked ? "locked" : "unlocked") +
           waiters_suffix(waiters) + "]>";
  }
  // Lock.acquire's fast path: unlocked and nobody in line (a cancelled waiter that has not run
  // yet does not count; a woken one does, it is about to take the lock).
  bool free_for_newcomer() const noexcept {
    if (locked) return false;
    for (const Future<void>& waiter : waiters) {
      if (!waiter.cancelled()) return false;
    }
    return true;
  }
  // Lock._wake_up_first: only the first waiter is looked at. If it is already done (woken, or
  // cancelled but not yet run), it will call this again when it runs and leaves the line.
  void wake_up_first() {
    if (waiters.empty()) return;
    Future<void>& first = waiters.front();
    if (!first.done()) first.set_result();
  }
  void release() {
    if (!locked) throw RuntimeError("Lock is not acquired.");
    locked = false;
    wake_up_first();
  }
};

// Lock.acquire. Takes the state (not the Lock) so that a suspended frame never refers to a Lock
// that may be gone.
inline Coro<void> lock_acquire(std::shared_ptr<LockState> state) {
  if (state->free_for_newcomer()) {
    state->locked = true;
    co_return;
  }
  EventLoop& loop = state->binding.get([&] { return state->repr(); });
  WaiterEntry entry(state->waiters, loop.create_future());
  try {
    co_await entry.future();
  } catch (...) {
    // Cancelled while waiting, or after being woken: leave the line first (so as not to wake
    // ourselves), then make sure a wake-up meant for us is not lost.
    entry.remove();
    if (!state->locked) state->wake_up_first();
    throw;
  }
  entry.remove();
  state->locked = true;
}

// --- Event ------------------------------------------------------------------------------------

struct EventState {
  bool value = false;
  WaiterList waiters;
  LoopBinding binding;

  std::string repr() const {
    return std::string("<aio::Event [") + (value ? "set" : "unset") + waiters_suffix(waiters) +
           "]>";
  }
};

inline Coro<bool> event_wait(std::shared_ptr<EventState> state) {
  if (state->value) co_return true;
  EventLoop& loop = state->binding.get([&] { return state->repr(); });
  WaiterEntry entry(state->waiters, loop.create_future());
  co_await entry.future();
  co_return true;
}

// --- Condition --------------------------------------------------------------------------------

struct ConditionState {
  WaiterList waiters;
  LoopBinding binding;

  std::string repr(const LockState& lock) const {
    return std::string("<aio::Condition [") + (lock.locked ? "locked" : "unlocked") +
           waiters_suffix(waiters) + "]>";
  }
  // Wakes up to n waiters that are still waiting, oldest first.
  void notify(int n) {
    int woken = 0;
    for (Future<void>& waiter : waiters) {
      if (woken >= n) break;
      if (!waiter.done()) {
        ++woken;
        waiter.set_result();
      }
    }
  }
};

// Condition.wait: releases the lock, waits for a notification, and re-acquires the lock on every
// path (also when cancelled, then CancelledError is raised with the lock held).
inline Coro<bool> condition_wait(std::shared_ptr<LockState> lock,
                                 std::shared_ptr<ConditionState> state) {
  if (!lock->locked) throw RuntimeError("cannot wait on un-acquired lock");
  // Bind before releasing: a binding error leaves the caller's lock as it was.
  EventLoop& loop = state->binding.get([&] { return state->repr(*lock); });
  lock->release();
  std::exception_ptr error;
  bool notified = false;
  {
    WaiterEntry entry(state->waiters, loop.create_future());
    try {
      co_await entry.future();
    } catch (...) {
      error = std::current_exception();
    }
    notified = entry.woken();
  }
  // Must re-acquire the lock even if the wait was cancelled; a cancellation that arrives while
  // re-acquiring is remembered and raised once the lock is held again.
  while (true) {
    bool cancelled = false;
    try {
      co_await lock_acquire(lock);
    } catch (const CancelledError&) {
      cancelled = true;
      if (!error) error = std::current_exception();
    }
    if (!cancelled) break;
  }
  if (error) {
    // This waiter was notified but will not act on it: hand the notification on.
    if (notified) state->notify(1);
    std::rethrow_exception(error);
  }
  co_return true;
}

// --- Semaphore --------------------------------------------------------------------------------

struct SemaphoreState {
  int value = 0;   // permits nobody holds and nobody has been handed yet
  int bound = -1;  // BoundedSemaphore: the initial value; -1 for a plain Semaphore
  WaiterList waiters;
  LoopBinding binding;

  std::string repr() const {
    std::string text = std::string("<aio::") + (bound >= 0 ? "BoundedSemaphore" : "Semaphore") +
                       " [" + (value == 0 ? "locked" : "unlocked, value:" + std::to_string(value));
    return text + waiters_suffix(waiters) + "]>";
  }
  // Hands one permit to the first waiter still waiting; false if there is none.
  bool wake_up_next() {
    for (Future<void>& waiter : waiters) {
      if (!waiter.done()) {
        --value;
        waiter.set_result();
        return true;
      }
    }
    return false;
  }
  // Keeps the invariant "value > 0 only if nobody is waiting".
  void wake_up_waiters() {
    while (value > 0 && wake_up_next()) {
    }
  }
  void release() {
    if (bound >= 0 && value >= bound) throw ValueError("BoundedSemaphore released too many times");
    ++value;
    wake_up_waiters();
  }
};

inline Coro<void> semaphore_acquire(std::shared_ptr<SemaphoreState> state) {
  // By the invariant, a free permit means nobody is waiting for one: taking it is fair.
  if (state->value > 0) {
    --state->value;
    co_return;
  }
  EventLoop& loop = state->binding.get([&] { return state->repr(); });
  WaiterEntry entry(state->waiters, loop.create_future());
  try {
    co_await entry.future();
  } catch (...) {
    // Handed a permit but cancelled before it could use it: give it back to the next in line.
    bool handed = entry.woken();
    entry.remove();
    if (handed) ++state->value;
    state->wake_up_waiters();
    throw;
  }
  // The permit was taken for us by wake_up_next.
}

}  // namespace internal

// --- Lock -------------------------------------------------------------------------------------

// asyncio.Lock: a mutual-exclusion lock for tasks. Not reentrant; any task may release it.
class Lock {
 public:
  Lock() : state_(std::make_shared<internal::LockState>()) {}
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Acquires the lock, waiting in FIFO order if it is locked or others are in line. No
  // suspension at all on an unlocked lock nobody waits for.
  Coro<void> acquire() { return internal::lock_acquire(state_); }
  // Acquires the lock and returns a guard that releases it (`async with lock:`).
  Coro<LockGuard> scoped() {
    co_await internal::lock_acquire(state_);
    co_return LockGuard(*this);
  }
  // Unlocks and wakes the first waiter. RuntimeError("Lock is not acquired.") if unlocked.
  void release() { state_->release(); }
  bool locked() const noexcept { return state_->locked; }

  // "<aio::Lock [unlocked]>", "<aio::Lock [locked, waiters:2]>".
  std::string repr() const { return state_->repr(); }

 private:
  friend class Condition;
  std::shared_ptr<internal::LockState> state_;
};

// --- Event ------------------------------------------------------------------------------------

// asyncio.Event: a flag tasks can wait for. set() wakes every waiter; clear() resets the flag.
class Event {
 public:
  Event() : state_(std::make_shared<internal::EventState>()) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  bool is_set() const noexcept { return state_->value; }
  // Sets the flag and wakes all waiters (a later clear() does not take their wake-up back).
  void set() {
    if (state_->value) return;
    state_->value = true;
    for (Future<void>& waiter : state_->waiters) {
      if (!waiter.done()) waiter.set_result();
    }
  }
  void clear() noexcept { state_->value = false; }
  // Returns true at once if the flag is set; otherwise waits until set() is called.
  Coro<bool> wait() { return internal::event_wait(state_); }

  // "<aio::Event [unset, waiters:1]>".
  std::string repr() const { return state_->repr(); }

 private:
  std::shared_ptr<internal::EventState> state_;
};

// --- Condition --------------------------------------------------------------------------------

// asyncio.Condition: waiting for a notification while holding a Lock (its own, or one shared
// with other conditions). Not movable: it may point at its own lock.
class Condition {
 public:
  Condition() : own_lock_(std::in_place), lock_(&*own_lock_) {}
  explicit Condition(Lock& lock) : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // The underlying lock's operations.
  Coro<void> acquire() { return lock_->acquire(); }
  Coro<ConditionGuard> scoped() {
    co_await internal::lock_acquire(lock_state_);
    co_return ConditionGuard(*this);
  }
  void release() { lock_->release(); }
  bool locked() const noexcept { return lock_->locked(); }

  // Releases the lock, waits until notified, re-acquires the lock and returns true. If cancelled,
  // the lock is still re-acquired before CancelledError propagates. RuntimeError("cannot wait on
  // un-acquired lock") if the lock is not held.
  Coro<bool> wait() { return internal::condition_wait(lock_state_, state_); }

  // Waits until predicate() is truthy (checked first, then after each wake-up) and returns its
  // last value. The lock must be held (as for wait()).
  template <class Predicate>
    requires std::invocable<Predicate&>
  Coro<std::decay_t<std::invoke_result_t<Predicate&>>> wait_for(Predicate predicate) {
    return wait_for_impl(lock_state_, state_, std::move(predicate));
  }

  // Wakes up to n tasks waiting on this condition (oldest first). RuntimeError("cannot notify on
  // un-acquired lock") if the lock is not held.
  void notify(int n = 1) {
    if (!lock_->locked()) throw RuntimeError("cannot notify on un-acquired lock");
    state_->notify(n);
  }
  // Wakes every waiting task.
  void notify_all() { notify(static_cast<int>(state_->waiters.size())); }

  // "<aio::Condition [locked, waiters:2]>".
  std::string repr() const { return state_->repr(*lock_state_); }

 private:
  template <class Predicate>
  static Coro<std::decay_t<std::invoke_result_t<Predicate&>>> wait_for_impl(
      std::shared_ptr<internal::LockState> lock, std::shared_ptr<internal::ConditionState> state,
      Predicate predicate) {
    auto result = predicate();
    while (!result) {
      co_await internal::condition_wait(lock, state);
      result = predicate();
    }
    co_return result;
  }

  std::optional<Lock> own_lock_;  // Condition(): its own lock
  Lock* lock_;                    // own_lock_ or the shared one
  std::shared_ptr<internal::LockState> lock_state_ = lock_->state_;
  std::shared_ptr<internal::ConditionState> state_ = std::make_shared<internal::ConditionState>();
};

// --- Semaphore --------------------------------------------------------------------------------

// asyncio.Semaphore: a counter of permits; acquire() takes one (waiting in FIFO order while
// there is none), release() gives one back.
class Semaphore {
 public:
  // ValueError("Semaphore initial value must be >= 0") for a negative value.
  explicit Semaphore(int value = 1) : Semaphore(value, -1) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Takes a permit, waiting (FIFO) while there is none. No suspension if one is free.
  Coro<void> acquire() { return internal::semaphore_acquire(state_); }
  Coro<SemaphoreGuard> scoped() {
    co_await internal::semaphore_acquire(state_);
    co_return SemaphoreGuard(*this);
  }
  // Gives a permit back (to the first waiter, if any). A plain Semaphore may be released more
  // often than acquired; a BoundedSemaphore refuses (ValueError).
  void release() { state_->release(); }
  // True if acquire() would wait.
  bool locked() const noexcept { return state_->value == 0; }

  // "<aio::Semaphore [unlocked, value:2]>", "<aio::Semaphore [locked, waiters:1]>".
  std::string repr() const { return state_->repr(); }

 protected:
  Semaphore(int value, int bound) : state_(std::make_shared<internal::SemaphoreState>()) {
    if (value < 0) throw ValueError("Semaphore initial value must be >= 0");
    state_->value = value;
    state_->bound = bound;
  }

 private:
  std::shared_ptr<internal::SemaphoreState> state_;
};

// asyncio.BoundedSemaphore: a Semaphore that refuses to be released above its initial value
// (ValueError("BoundedSemaphore released too many times")).
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(int value = 1) : Semaphore(value, value) {}
};

}  // namespace aio

#endif  // AIO_LOOP_LOCKS_H_
