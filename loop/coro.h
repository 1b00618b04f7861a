// aio::Coro<T>: a C++20 coroutine in asyncio's sense: lazy (nothing runs until it is awaited or
// wrapped in a Task), awaited inline by another coroutine (`co_await child()` runs child in the
// caller's task, like `await child()`), or scheduled with loop.create_task(coro).
//
// Inside a Coro, `co_await` works on aio::Future<T>, aio::Task<T>, other Coro<U>s and aio's
// helpers (sleep, wait_for, gather, ...). A suspension always belongs to the running Task.
#ifndef AIO_LOOP_CORO_H_
#define AIO_LOOP_CORO_H_

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "loop/free_list.h"
#include "loop/future.h"
#include "loop/task_core.h"

namespace aio {

namespace internal {

// Where a coroutine was created (debug mode only): an opaque captured stack.
struct CreationTrace;
// nullptr unless debug mode is on (the running loop's, else AIO_DEBUG).
CreationTrace* capture_creation_trace_if_debug();
// Frees the trace; first logs "coroutine '...' was never awaited" if the coroutine never ran
// (`frame` is its coroutine frame, which names the coroutine).
void finish_creation_trace(CreationTrace* trace, bool never_started, void* frame) noexcept;

// Raises what the task has to deliver at this resumption point (a cancellation), if anything.
inline void raise_pending_in_current_task() {
  if (TaskCore* task = TaskCore::current()) {
    if (std::exception_ptr error = task->take_resume_exception()) std::rethrow_exception(error);
  }
}

inline TaskCore& current_task_or_throw() {
  TaskCore* task = TaskCore::current();
  if (task == nullptr) {
    throw RuntimeError("co_await of an aio awaitable outside of a running Task");
  }
  return *task;
}

template <class T>
struct CoroPromiseResult {
  std::optional<T> value;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() { return std::move(*value); }
};

template <>
struct CoroPromiseResult<void> {
  void return_void() noexcept {}
  void take() noexcept {}
};

// One step of "bare yield": give the loop one iteration (asyncio.sleep(0)).
struct YieldAwaiter {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { current_task_or_throw().suspend_yield(h); }
  void await_resume() { raise_pending_in_current_task(); }
};

}  // namespace internal

template <class T = void>
class [[nodiscard]] Coro {
 public:
  struct promise_type : internal::CoroPromiseResult<T> {
    std::exception_ptr exception;
    std::coroutine_handle<> continuation;

    // Coroutine frames are small and short-lived: recycled per thread like futures and tasks
    // (loop/free_list.h; frames over 512 bytes use the global allocator).
    static void* operator new(std::size_t size) { return internal::recycled_allocate(size); }
    static void operator delete(void* frame, std::size_t size) noexcept {
      internal::recycled_deallocate(frame, size);
    }

    Coro get_return_object() noexcept {
      return Coro(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    // Lazy start; a task cancelled before its first step raises at the very beginning.
    struct InitialAwaiter {
      promise_type* promise;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<>) const noexcept {}
      void await_resume() const {
        promise->started = true;
        internal::raise_pending_in_current_task();
      }
    };
    InitialAwaiter initial_suspend() noexcept { return {this}; }

    // Debug mode: a coroutine destroyed before it ever ran (never awaited, never scheduled) is
    // reported with where it was created, like CPython's "coroutine ... was never awaited".
    internal::CreationTrace* trace = internal::capture_creation_trace_if_debug();
    bool started = false;
    ~promise_type() {
      if (trace != nullptr) {
        internal::finish_creation_trace(
            trace, /*never_started=*/!started,
            std::coroutine_handle<promise_type>::from_promise(*this).address());
      }
    }
    // Hands control back to the awaiting coroutine (or to the task's step for the root).
    struct FinalAwaiter {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        std::coroutine_handle<> next = h.promise().continuation;
        return next ? next : std::noop_coroutine();
      }
      void await_resume() const noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { exception = std::current_exception(); }
  };
  using handle_type = std::coroutine_handle<promise_type>;

  Coro(Coro&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Coro& operator=(Coro&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Coro(const Coro&) = delete;
  Coro& operator=(const Coro&) = delete;
  ~Coro() { reset(); }

  // `co_await child` runs the child inline, in the awaiting coroutine's task.
  auto operator co_await() && noexcept {
    struct Awaiter {
      handle_type handle;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        handle.promise().continuation = awaiting;
        return handle;  // symmetric transfer: no stack growth along a chain of awaits
      }
      T await_resume() {
        if (handle.promise().exception) std::rethrow_exception(handle.promise().exception);
        return handle.promise().take();
      }
    };
    return Awaiter{handle_};
  }

  // Internal: gives up the frame (a Task takes it over).
  handle_type release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

 private:
  explicit Coro(handle_type handle) noexcept : handle_(handle) {}
  void reset() noexcept {
    if (handle_) handle_.destroy();
    handle_ = nullptr;
  }
  handle_type handle_;
};

// co_await on a Future: no suspension if it is already done; otherwise the task sleeps until it
// is. Yields the value or rethrows (CancelledError if the future was cancelled).
template <class T>
auto operator co_await(const Future<T>& future) {
  // A reference is enough: the awaited future (even a temporary) lives until the end of the
  // full expression, which spans the suspension.
  struct Awaiter {
    const Future<T>& future;
    bool await_ready() const noexcept { return future.done(); }
    void await_suspend(std::coroutine_handle<> h) {
      internal::current_task_or_throw().suspend_on(future.state(), h);
    }
    decltype(auto) await_resume() {
      internal::raise_pending_in_current_task();
      return future.take_result();
    }
  };
  return Awaiter{future};
}

}  // namespace aio

#endif  // AIO_LOOP_CORO_H_
