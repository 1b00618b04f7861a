// asyncio's helpers over futures and tasks: ensure_future, shield, wait_for, gather.
// They follow asyncio 3.8's tasks.py rule by rule; each comment names the rule it keeps.
#ifndef AIO_LOOP_COMBINATORS_H_
#define AIO_LOOP_COMBINATORS_H_

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "loop/coro.h"
#include "loop/future.h"
#include "loop/task.h"

namespace aio {

// --- ensure_future ----------------------------------------------------------------------------

// A future (or task) is returned as it is; a coroutine is scheduled as a Task on `loop`
// (default: the running loop).
template <class T>
Future<T> ensure_future(Future<T> future) {
  return future;
}
template <class T>
Task<T> ensure_future(Coro<T> coro, EventLoop* loop = nullptr) {
  EventLoop& target = loop ? *loop : get_running_loop();
  return target.create_task(std::move(coro));
}

namespace internal {

// Resolves `waiter` (if still pending): the shared "release the waiter" callback.
inline void release(Future<void>& waiter) {
  if (!waiter.done()) waiter.set_result();
}

// Cancels `future` and waits until it is really done (asyncio's _cancel_and_wait).
template <class T>
Coro<void> cancel_and_wait(Future<T> future) {
  Future<void> waiter = future.get_loop().create_future();
  DoneCallbackId callback =
      future.add_done_callback([waiter](Future<T>&) mutable { release(waiter); });
  future.cancel();
  struct Unregister {
    Future<T>& future;
    DoneCallbackId id;
    ~Unregister() { future.remove_done_callback(id); }
  } unregister{future, callback};
  co_await waiter;
}

}  // namespace internal

// --- shield -----------------------------------------------------------------------------------

// Protects `inner` from cancellation: cancelling the returned future does not cancel inner
// (whose result is then marked retrieved); inner's outcome is copied to it otherwise.
template <class T>
Future<T> shield(Future<T> inner) {
  if (inner.done()) return inner;
  Future<T> outer = inner.get_loop().template create_future<T>();
  DoneCallbackId on_inner = inner.add_done_callback([outer](Future<T>& done) mutable {
    if (outer.cancelled()) {
      if (!done.cancelled()) done.exception();  // nobody will look at it: mark it retrieved
      return;
    }
    internal::copy_outcome(done, outer);
  });
  outer.add_done_callback([inner, on_inner](Future<T>&) mutable {
    if (!inner.done()) inner.remove_done_callback(on_inner);
  });
  return outer;
}
template <class T>
Future<T> shield(Coro<T> coro) {
  return shield(Future<T>(ensure_future(std::move(coro))));
}

// --- wait_for ---------------------------------------------------------------------------------

// Waits for `future` at most `timeout` seconds. On timeout the future is cancelled, awaited, and
// TimeoutError is raised. If the waiting task itself is cancelled, so is the future.
template <class T>
Coro<T> wait_for(Future<T> future, double timeout) {
  EventLoop& loop = get_running_loop();
  if (timeout <= 0) {
    if (future.done()) co_return future.take_result();
    co_await internal::cancel_and_wait(future);
    throw TimeoutError();
  }
  Future<void> waiter = loop.create_future();
  TimerHandle timeout_handle =
      loop.call_later(timeout, [waiter]() mutable { internal::release(waiter); });
  struct CancelTimer {
    TimerHandle& handle;
    ~CancelTimer() { handle.cancel(); }
  } cancel_timer{timeout_handle};
  DoneCallbackId callback =
      future.add_done_callback([waiter](Future<T>&) mutable { internal::release(waiter); });

  std::exception_ptr cancelled;
  try {
    co_await waiter;
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  if (future.done()) co_return future.take_result();
  future.remove_done_callback(callback);
  co_await internal::cancel_and_wait(future);
  if (cancelled) std::rethrow_exception(cancelled);
  throw TimeoutError();
}
template <class T>
Coro<T> wait_for(Coro<T> coro, double timeout) {
  Task<T> task = get_running_loop().create_task(std::move(coro));
  co_return co_await wait_for(Future<T>(task), timeout);
}

// --- gather -----------------------------------------------------------------------------------

template <class T>
using GatherValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// One child's outcome in gather(..., return_exceptions): its value, or the exception it ended
// with (CancelledError for a cancelled child), as asyncio puts exceptions in the result list.
template <class T>
struct Outcome {
  std::optional<GatherValue<T>> value;
  std::exception_ptr exception;

  bool ok() const noexcept { return exception == nullptr; }
  // The value, or rethrows the exception.
  const GatherValue<T>& get() const {
    if (exception) std::rethrow_exception(exception);
    return *value;
  }
};

// The tag that selects asyncio's return_exceptions=True: gather(children, return_exceptions).
struct ReturnExceptions {};
inline constexpr ReturnExceptions return_exceptions{};

namespace internal {

template <class T>
GatherValue<T> gather_value(const Future<T>& child) {
  if constexpr (std::is_void_v<T>) {
    child.result();
    return {};
  } else {
    return child.take_result();
  }
}

template <class T>
Outcome<T> gather_outcome(const Future<T>& child) {
  Outcome<T> outcome;
  if (child.cancelled()) {
    outcome.exception = std::make_exception_ptr(CancelledError());
  } else if (std::exception_ptr error = child.exception()) {
    outcome.exception = error;
  } else {
    outcome.value = gather_value(child);
  }
  return outcome;
}

template <class T, bool kReturnExceptions>
using GatherResults =
    std::conditional_t<kReturnExceptions, std::vector<Outcome<T>>, std::vector<GatherValue<T>>>;

// The future gather() returns (asyncio's _GatheringFuture): cancelling it cancels every child.
// The children's done-callbacks hold it; it holds the children until it is done (then the
// cycle is gone).
template <class T, bool kReturnExceptions>
class GatherState final : public FutureCore, public ValueBox<GatherResults<T, kReturnExceptions>> {
 public:
  using Results = GatherResults<T, kReturnExceptions>;
  using FutureCore::FutureCore;

  bool cancel(std::string message) override {
    if (done()) return false;
    bool any = false;
    for (Future<T>& child : children) {
      if (child.cancel(message)) any = true;
    }
    if (any) cancel_requested = true;  // the outcome is decided when the children are done
    return any;
  }

  // One child finished: asyncio's _done_callback.
  void on_child_done(Future<T>& child) {
    ++finished;
    Future<Results> outer(self_ref(), this);
    if (outer.done()) {
      if (!child.cancelled()) child.exception();  // mark retrieved: nobody else will
      return;
    }
    if constexpr (!kReturnExceptions) {
      // Without return_exceptions, the first failure (or cancellation) fails the gather now.
      if (child.cancelled()) {
        outer.set_exception(CancelledError());
        return;
      }
      if (std::exception_ptr error = child.exception()) {
        outer.set_exception(error);
        return;
      }
    }
    if (finished < children.size()) return;
    if (cancel_requested) {
      outer.set_exception(CancelledError());
      return;
    }
    Results results;
    for (const Future<T>& f : children) {
      if constexpr (kReturnExceptions) {
        results.push_back(gather_outcome(f));
      } else {
        results.push_back(gather_value(f));
      }
    }
    children.clear();
    outer.set_result(std::move(results));
  }

  std::vector<Future<T>> children;
  std::size_t finished = 0;
  bool cancel_requested = false;
};

template <class T, bool kReturnExceptions>
Future<GatherResults<T, kReturnExceptions>> start_gather(std::vector<Future<T>> children) {
  using State = GatherState<T, kReturnExceptions>;
  using Results = typename State::Results;
  EventLoop& loop = children.empty() ? get_running_loop() : children.front().get_loop();
  auto* state = new State(loop, std::source_location::current());
  Future<Results> outer(Ref<FutureCore>::adopt(state), state);
  if (children.empty()) {
    outer.set_result(Results{});
    return outer;
  }
  state->children = children;
  for (Future<T>& child : children) {
    child.add_done_callback([gathering = Ref<FutureCore>::share(state), state](Future<T>& done) {
      state->on_child_done(done);
    });
  }
  return outer;
}

template <class T>
std::vector<Future<T>> schedule_all(std::vector<Coro<T>> coros) {
  std::vector<Future<T>> children;
  children.reserve(coros.size());
  for (Coro<T>& coro : coros) children.push_back(ensure_future(std::move(coro)));
  return children;
}

}  // namespace internal

// Runs the futures concurrently and resolves to their results in input order. The first
// exception (or a child's cancellation, as CancelledError) is propagated at once; the other
// children keep running. Cancelling the returned future cancels all children.
template <class T>
Future<std::vector<GatherValue<T>>> gather(std::vector<Future<T>> children) {
  return internal::start_gather<T, false>(std::move(children));
}
template <class T>
Future<std::vector<GatherValue<T>>> gather(std::vector<Coro<T>> coros) {
  return gather(internal::schedule_all(std::move(coros)));
}

// asyncio's gather(..., return_exceptions=True): waits for every child and resolves to one
// Outcome per child, in input order; exceptions and cancellations are outcomes, not failures.
template <class T>
Future<std::vector<Outcome<T>>> gather(std::vector<Future<T>> children, ReturnExceptions) {
  return internal::start_gather<T, true>(std::move(children));
}
template <class T>
Future<std::vector<Outcome<T>>> gather(std::vector<Coro<T>> coros, ReturnExceptions) {
  return gather(internal::schedule_all(std::move(coros)), return_exceptions);
}

}  // namespace aio

#endif  // AIO_LOOP_COMBINATORS_H_
