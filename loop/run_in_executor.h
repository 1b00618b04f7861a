// The bridge between threads and the loop: wrap_future and loop.run_in_executor.
#ifndef AIO_LOOP_RUN_IN_EXECUTOR_H_
#define AIO_LOOP_RUN_IN_EXECUTOR_H_

#include <atomic>
#include <memory>
#include <type_traits>
#include <utility>

#include "loop/concurrent_future.h"
#include "loop/coro.h"
#include "loop/event_loop.h"
#include "loop/executor.h"
#include "loop/future.h"
#include "loop/thread_pool_executor.h"

namespace aio {

// asyncio.wrap_future: a loop future that completes when `source` does (completion is posted to
// the loop thread). Cancelling the loop future cancels `source` if it has not started. When the
// loop future is already cancelled, or the loop closed, the completion posts nothing.
template <class T>
Future<T> wrap_future(ConcurrentFuture<T> source, EventLoop& loop) {
  Future<T> destination = loop.template create_future<T>();
  auto destination_cancelled = std::make_shared<std::atomic<bool>>(false);
  destination.add_done_callback([source, destination_cancelled](Future<T>& done) mutable {
    if (!done.cancelled()) return;
    destination_cancelled->store(true);
    source.cancel();
  });
  // The completing thread holds only thread-safe pieces: the poster and a weak reference that
  // is locked on the loop thread.
  std::weak_ptr<internal::FutureCore> weak = destination.state();
  internal::ValueBox<T>* box = destination.box();
  source.add_done_callback(
      [poster = loop.poster(), weak, box, destination_cancelled](ConcurrentFuture<T>& completed) {
        if (destination_cancelled->load()) return;
        poster->post([weak, box, completed]() mutable {
          std::shared_ptr<internal::FutureCore> core = weak.lock();
          if (!core || core->done()) return;
          Future<T> target(std::move(core), box);
          internal::copy_outcome(completed, target);
        });
      });
  return destination;
}

template <class F>
auto EventLoop::run_in_executor(Executor* executor, F&& fn) {
  check_closed();
  if (debug_) check_thread();
  if (executor == nullptr) {
    if (executor_shutdown_called_) throw RuntimeError("Executor shutdown has been called");
    if (!default_executor_) default_executor_ = std::make_shared<ThreadPoolExecutor>();
    executor = default_executor_.get();
  }
  return wrap_future(executor->submit(std::forward<F>(fn)), *this);
}

}  // namespace aio

#endif  // AIO_LOOP_RUN_IN_EXECUTOR_H_
