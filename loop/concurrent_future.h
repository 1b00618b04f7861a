// aio::ConcurrentFuture<T>: concurrent.futures.Future, a thread-safe result that executors
// produce on their own threads. Unlike aio::Future it belongs to no loop: wrap_future() bridges
// it onto one.
#ifndef AIO_LOOP_CONCURRENT_FUTURE_H_
#define AIO_LOOP_CONCURRENT_FUTURE_H_

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "loop/errors.h"
#include "loop/logging.h"

namespace aio {

template <class T = void>
class ConcurrentFuture {
  struct Value {
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
  };

 public:
  ConcurrentFuture() : state_(std::make_shared<State>()) {}

  // Cancels a future that is neither running nor done; false otherwise (never after it started).
  bool cancel() {
    std::vector<Callback> callbacks;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->status == Status::kRunning || state_->status == Status::kFinished) return false;
      if (state_->status == Status::kCancelled) return true;
      state_->status = Status::kCancelled;
      callbacks.swap(state_->callbacks);
    }
    state_->done.notify_all();
    run(callbacks);
    return true;
  }
  bool cancelled() const { return status() == Status::kCancelled; }
  bool running() const { return status() == Status::kRunning; }
  bool done() const {
    Status s = status();
    return s == Status::kCancelled || s == Status::kFinished;
  }

  // Executors call this before running the job: false means it was cancelled, skip it.
  bool set_running_or_notify_cancel() {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->status == Status::kCancelled) return false;
    if (state_->status != Status::kPending) throw InvalidStateError("Future in unexpected state");
    state_->status = Status::kRunning;
    return true;
  }

  template <class U = T>
    requires(!std::is_void_v<U>)
  void set_result(U&& value) {
    finish([&] { state_->result.value.emplace(std::forward<U>(value)); });
  }
  void set_result()
    requires std::is_void_v<T>
  {
    finish([&] { state_->result.value.emplace(true); });
  }
  void set_exception(std::exception_ptr error) {
    finish([&] { state_->exception = std::move(error); });
  }

  // Blocks until done (at most `timeout` seconds if >= 0): the value, or rethrows; TimeoutError
  // if still pending after the timeout; CancelledError if cancelled.
  T result(double timeout = -1) const {
    std::unique_lock<std::mutex> lock(state_->mutex);
    wait(lock, timeout);
    if (state_->exception) std::rethrow_exception(state_->exception);
    if constexpr (!std::is_void_v<T>) return *state_->result.value;
  }
  // As result(), but a move-only value is moved out (the one taker owns it).
  T take_result(double timeout = -1) const {
    std::unique_lock<std::mutex> lock(state_->mutex);
    wait(lock, timeout);
    if (state_->exception) std::rethrow_exception(state_->exception);
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (std::is_copy_constructible_v<T>) {
      return *state_->result.value;
    } else {
      return std::move(*state_->result.value);
    }
  }
  std::exception_ptr exception(double timeout = -1) const {
    std::unique_lock<std::mutex> lock(state_->mutex);
    wait(lock, timeout);
    return state_->exception;
  }

  // Calls fn(future) when done: at once on this thread if it already is, else on the thread
  // that completes it.
  template <class F>
  void add_done_callback(F&& fn) {
    Callback callback = [self = *this, fn = std::forward<F>(fn)]() mutable { fn(self); };
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->status != Status::kCancelled && state_->status != Status::kFinished) {
        state_->callbacks.push_back(std::move(callback));
        return;
      }
    }
    run_one(callback);
  }

 private:
  enum class Status { kPending, kRunning, kCancelled, kFinished };
  using Callback = absl::AnyInvocable<void()>;
  struct State {
    mutable std::mutex mutex;
    std::condition_variable done;
    Status status = Status::kPending;
    Value result;
    std::exception_ptr exception;
    std::vector<Callback> callbacks;
  };

  Status status() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->status;
  }
  void wait(std::unique_lock<std::mutex>& lock, double timeout) const {
    auto finished = [&] {
      return state_->status == Status::kCancelled || state_->status == Status::kFinished;
    };
    if (timeout < 0) {
      state_->done.wait(lock, finished);
    } else if (!state_->done.wait_for(lock, std::chrono::duration<double>(timeout), finished)) {
      throw TimeoutError();
    }
    if (state_->status == Status::kCancelled) throw CancelledError();
  }
  template <class Store>
  void finish(Store&& store) {
    std::vector<Callback> callbacks;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->status == Status::kCancelled || state_->status == Status::kFinished) {
        throw InvalidStateError("ConcurrentFuture is already done");
      }
      store();
      state_->status = Status::kFinished;
      callbacks.swap(state_->callbacks);
    }
    state_->done.notify_all();
    run(callbacks);
  }
  static void run_one(Callback& callback) {
    std::vector<Callback> one;
    one.push_back(std::move(callback));
    run(one);
  }
  // A failing callback is logged and the others still run (concurrent.futures does the same).
  static void run(std::vector<Callback>& callbacks) {
    for (Callback& callback : callbacks) {
      try {
        callback();
      } catch (...) {
        log(LogLevel::kError, "exception calling callback for ConcurrentFuture\n" +
                                  describe_exception(std::current_exception()));
      }
    }
  }

  std::shared_ptr<State> state_;
};

}  // namespace aio

#endif  // AIO_LOOP_CONCURRENT_FUTURE_H_
