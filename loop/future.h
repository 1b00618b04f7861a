// aio::Future<T>: asyncio.Future, a result that will arrive later on one loop.
//
// A Future is a cheap reference to shared state (copies refer to the same future). Rules, as
// asyncio's: done-callbacks never run inside set_result/set_exception/cancel; each is scheduled
// with call_soon, in registration order, also when added to an already-done future. Setting a
// done future is an InvalidStateError. A future whose exception was never retrieved reports it
// through the loop's exception handler when its last reference goes.
#ifndef AIO_LOOP_FUTURE_H_
#define AIO_LOOP_FUTURE_H_

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/free_list.h"
#include "loop/ref.h"

namespace aio {

template <class T>
class Future;

// Identifies one add_done_callback registration.
using DoneCallbackId = std::uint64_t;

namespace internal {

// The type-independent part of a future: state, exception, callbacks, reporting.
class FutureCore {
 public:
  using Run = absl::AnyInvocable<void(const Ref<FutureCore>&)>;

  enum class Status : std::uint8_t { kPending, kCancelled, kFinished };

  FutureCore(EventLoop& loop, std::source_location where) : loop_(loop.liveness()), where_(where) {}
  virtual ~FutureCore();
  FutureCore(const FutureCore&) = delete;
  FutureCore& operator=(const FutureCore&) = delete;

  // Reference counting for Ref<>: a new state starts with one reference. Copies may be dropped
  // on any thread; the last reference may skip the locked RMW (nobody else can hold one).
  void add_ref() const noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void drop_ref() const noexcept {
    if (refs_.load(std::memory_order_acquire) == 1 ||
        refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete this;
    }
  }
  Ref<FutureCore> self_ref() noexcept { return Ref<FutureCore>::share(this); }
  // Futures and tasks are small and short-lived: recycled per thread (loop/free_list.h).
  static void* operator new(std::size_t size) { return recycled_allocate(size); }
  static void operator delete(void* block, std::size_t size) noexcept {
    recycled_deallocate(block, size);
  }

  // RuntimeError if the loop was destroyed.
  EventLoop& loop() const {
    if (*loop_ == nullptr) throw_loop_destroyed();
    return **loop_;
  }
  Status status() const noexcept { return status_; }
  bool done() const noexcept { return status_ != Status::kPending; }

  // Throws CancelledError / InvalidStateError as result() must; marks the exception retrieved.
  std::exception_ptr checked_exception() {
    if (status_ != Status::kFinished) throw_not_finished();
    exception_unretrieved_ = false;
    return exception_;
  }
  void check_settable() const {
    if (status_ != Status::kPending) throw_not_settable();
  }
  // Tasks refuse set_result/set_exception from users (asyncio: RuntimeError).
  virtual void check_user_may_set(const char* operation) const {}
  void finish_with_exception(std::exception_ptr error);
  void mark_finished() { status_ = Status::kFinished; }
  // Future.cancel; tasks override it (a task forwards the cancellation to what it awaits).
  virtual bool cancel(std::string message) { return cancel_future(std::move(message)); }
  // The plain future's cancel, also what a task uses when its coroutine ends cancelled.
  bool cancel_future(std::string message);

  // `run` receives this future's state when the callback runs (the typed Future rebuilds itself
  // from it), so a pending future's callbacks hold no reference to it and cannot leak a cycle.
  DoneCallbackId add_callback(Run run, const void* identity);
  // The fast path of add_callback for a task awaiting this future: when done, the task's wake()
  // is scheduled (one small handle, no type-erased callback).
  void add_waiter(Ref<FutureCore> waiter);
  // What a waiter does when the future it awaits is done (tasks: take their next step).
  // `self` is the reference that kept the waiter alive; it may hand it on (no refcount work).
  virtual void wake(Ref<FutureCore> self) {}
  // Schedules waiter->wake() on this future's loop.
  void wake_soon(Ref<FutureCore> waiter);
  std::size_t remove_callbacks(DoneCallbackId id);
  std::size_t remove_callbacks_by_identity(const void* identity);
  void schedule_callbacks();
  // Drops every pending callback (a pending task abandoned at loop close breaks its cycles).
  void clear_callbacks() noexcept;

  std::string repr() const;
  std::source_location where() const noexcept { return where_; }
  // "Future exception was never retrieved" (or Task ...), at most once. Destructors call it;
  // a subclass calls it from its own destructor so that repr() still sees the whole object.
  void report_if_unretrieved() noexcept {
    if (exception_unretrieved_) report_unretrieved();
  }
  // True if `other` belongs to the same loop as this future (no liveness check needed).
  bool same_loop(const FutureCore& other) const noexcept { return loop_ == other.loop_; }

  struct DoneCallback {
    DoneCallbackId id;
    const void* identity;  // a plain function pointer's address, for removal by function
    Run run;
    Ref<FutureCore> waiter;  // set instead of `run` for an awaiting task
  };

 private:
  void report_unretrieved() noexcept;
  [[noreturn]] static void throw_loop_destroyed();
  [[noreturn]] void throw_not_finished() const;
  [[noreturn]] void throw_not_settable() const;

  std::shared_ptr<EventLoop*> loop_;
  std::source_location where_;

 protected:
  const char* kind_name_ = "Future";  // "Task" for tasks: used in reports
  // repr() appends this inside the brackets (tasks add their name).
  virtual std::string repr_extra() const { return ""; }
  void clear_unretrieved() noexcept { exception_unretrieved_ = false; }
  const std::shared_ptr<EventLoop*>& liveness_token() const noexcept { return loop_; }

 private:
  Status status_ = Status::kPending;
  bool exception_unretrieved_ = false;
  std::exception_ptr exception_;
  std::string cancel_message_;
  // Done-callbacks in registration order. The usual single awaiting task sits in
  // first_waiter_ instead (only while callbacks_ is empty), which costs no allocation.
  Ref<FutureCore> first_waiter_;
  std::vector<DoneCallback> callbacks_;
  DoneCallbackId next_id_ = 1;
  mutable std::atomic<std::uint32_t> refs_{1};
};

// Where a Future<T>'s value lives; a plain future's state and a task's state both embed one.
template <class T>
struct ValueBox {
  std::optional<T> value;
};
template <>
struct ValueBox<void> {};

template <class T>
struct FutureState final : FutureCore, ValueBox<T> {
  using FutureCore::FutureCore;
};

}  // namespace internal

template <class T = void>
class Future {
 public:
  using value_type = T;

  Future() = default;  // empty: only assignable; use loop.create_future<T>()
  // Internal: a view of `core`, whose value lives in `box` (part of the same object).
  Future(internal::Ref<internal::FutureCore> core, internal::ValueBox<T>* box)
      : state_(std::move(core)), box_(box) {}

  bool done() const noexcept { return state_->done(); }
  bool cancelled() const noexcept {
    return state_->status() == internal::FutureCore::Status::kCancelled;
  }

  // The value; rethrows the exception the future was finished with; CancelledError if
  // cancelled; InvalidStateError("Result is not ready.") if still pending.
  decltype(auto) result() const {
    if (std::exception_ptr error = state_->checked_exception()) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<T>) return static_cast<const T&>(*box_->value);
  }
  // The result as a value, for co_await and run_until_complete: a copy, or, for a move-only T
  // (std::unique_ptr...), the value itself moved out (whoever takes it owns it; a second take
  // gets the moved-from value).
  T take_result() const {
    if (std::exception_ptr error = state_->checked_exception()) std::rethrow_exception(error);
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (std::is_copy_constructible_v<T>) {
      return *box_->value;
    } else {
      return std::move(*box_->value);
    }
  }
  // The exception (null if it finished with a value); CancelledError if cancelled;
  // InvalidStateError("Exception is not set.") if pending.
  std::exception_ptr exception() const {
    if (!done()) throw InvalidStateError("Exception is not set.");
    return state_->checked_exception();
  }

  template <class U = T>
    requires(!std::is_void_v<U>)
  void set_result(U&& value) {
    state_->check_user_may_set("set_result");
    state_->check_settable();
    box_->value.emplace(std::forward<U>(value));
    state_->mark_finished();
    state_->schedule_callbacks();
  }
  void set_result()
    requires std::is_void_v<T>
  {
    state_->check_user_may_set("set_result");
    state_->check_settable();
    state_->mark_finished();
    state_->schedule_callbacks();
  }
  void set_exception(std::exception_ptr error) {
    state_->check_user_may_set("set_exception");
    state_->finish_with_exception(std::move(error));
  }
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  void set_exception(E&& error) {
    set_exception(std::make_exception_ptr(std::forward<E>(error)));
  }

  // Cancels a pending future (done-callbacks are scheduled); false if it was already done.
  bool cancel(std::string message = "") { return state_->cancel(std::move(message)); }

  // Schedules fn(future) when the future is done (at once via call_soon if it already is).
  template <class F>
  DoneCallbackId add_done_callback(F&& fn) {
    const void* identity = nullptr;
    if constexpr (std::is_convertible_v<F, void (*)(Future&)>) {
      identity = reinterpret_cast<const void*>(static_cast<void (*)(Future&)>(fn));
    }
    return state_->add_callback(
        [fn = std::forward<F>(fn),
         box = box_](const internal::Ref<internal::FutureCore>& core) mutable {
          Future self(core, box);
          fn(self);
        },
        identity);
  }
  // Removes the registration `id`; returns how many were removed (0 or 1).
  std::size_t remove_done_callback(DoneCallbackId id) { return state_->remove_callbacks(id); }
  // Removes every registration of the plain function `fn`; returns how many.
  std::size_t remove_done_callback(void (*fn)(Future&)) {
    return state_->remove_callbacks_by_identity(reinterpret_cast<const void*>(fn));
  }

  EventLoop& get_loop() const { return state_->loop(); }

  // Internal: the shared state (awaiters and tasks use it).
  const internal::Ref<internal::FutureCore>& state() const noexcept { return state_; }
  internal::ValueBox<T>* box() const noexcept { return box_; }

  // "<Future pending>", "<Future cancelled>", "<Future finished result>", "<Future finished
  // exception=aio::ValueError: x>", with " created at file:line" in debug mode.
  std::string repr() const { return state_->repr(); }

  explicit operator bool() const noexcept { return state_ != nullptr; }
  friend bool operator==(const Future& a, const Future& b) noexcept { return a.state_ == b.state_; }

 private:
  internal::Ref<internal::FutureCore> state_;
  internal::ValueBox<T>* box_ = nullptr;
};

namespace internal {
// Copies a done future's outcome (value, exception or cancellation) into a pending Future<T>.
// `from` is any future-like type: aio::Future<T> or aio::ConcurrentFuture<T>.
template <class Source, class T>
void copy_outcome(const Source& from, Future<T>& to) {
  if (from.cancelled()) {
    to.cancel();
  } else if (std::exception_ptr error = from.exception()) {
    to.set_exception(error);
  } else if constexpr (std::is_void_v<T>) {
    to.set_result();
  } else {
    to.set_result(from.take_result());
  }
}
}  // namespace internal

// --- EventLoop members that need Future ------------------------------------------------------

template <class T>
Future<T> EventLoop::create_future(std::source_location where) {
  auto* state = new internal::FutureState<T>(*this, where);
  return Future<T>(internal::Ref<internal::FutureCore>::adopt(state), state);
}

template <class T>
T EventLoop::run_until_complete(Future<T> future) {
  return run_future_until_complete(std::move(future), /*owned_task=*/false);
}

template <class T>
T EventLoop::run_future_until_complete(Future<T> future, bool owned_task) {
  check_runnable();
  if (&future.get_loop() != this) {
    throw ValueError(
        "The future belongs to a different loop than the one specified as the loop argument");
  }
  // asyncio's _run_until_complete_cb: an interrupt stored in the future already ended
  // run_forever() by propagating; stopping again would leave a stale stop request behind.
  DoneCallbackId stopper = future.add_done_callback([](Future<T>& done) {
    if (!done.cancelled() && is_interrupt(done.exception())) return;
    done.get_loop().stop();
  });
  try {
    run_forever();
  } catch (...) {
    // A task made here for a coroutine is nobody else's: its interrupt was seen by the caller,
    // so it must not be reported as "never retrieved" later.
    if (owned_task && future.done() && !future.cancelled()) future.exception();
    future.remove_done_callback(stopper);
    throw;
  }
  future.remove_done_callback(stopper);
  if (!future.done()) throw RuntimeError("Event loop stopped before Future completed.");
  return future.take_result();
}

}  // namespace aio

#endif  // AIO_LOOP_FUTURE_H_
