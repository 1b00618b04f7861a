// The executor interface (concurrent.futures.Executor): runs jobs on other threads.
// Implement it to give run_in_executor() your own pool; ThreadPoolExecutor is the default.
#ifndef AIO_LOOP_EXECUTOR_H_
#define AIO_LOOP_EXECUTOR_H_

#include <exception>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "loop/concurrent_future.h"

namespace aio {

class Executor {
 public:
  virtual ~Executor() = default;

  // Runs `job` on some thread of the executor. RuntimeError("cannot schedule new futures after
  // shutdown") once shutdown() was called.
  virtual void execute(absl::AnyInvocable<void()> job) = 0;

  // Stops accepting jobs; with wait, returns once every accepted job has finished.
  virtual void shutdown(bool wait = true) = 0;

  // executor.submit(fn): runs fn() and delivers its value or exception in the returned future
  // (a job cancelled before it starts never runs).
  template <class F>
  auto submit(F&& fn) -> ConcurrentFuture<std::invoke_result_t<std::decay_t<F>&>> {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    ConcurrentFuture<R> future;
    execute([future, fn = std::forward<F>(fn)]() mutable {
      if (!future.set_running_or_notify_cancel()) return;
      try {
        if constexpr (std::is_void_v<R>) {
          fn();
          future.set_result();
        } else {
          future.set_result(fn());
        }
      } catch (...) {
        future.set_exception(std::current_exception());
      }
    });
    return future;
  }
};

}  // namespace aio

#endif  // AIO_LOOP_EXECUTOR_H_
