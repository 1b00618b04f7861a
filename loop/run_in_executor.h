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
namespace internal {
// A loop future kept by its loop for another thread (see LoopResource).
template <class T>
struct HeldFuture final : LoopResource {
  explicit HeldFuture(Future<T> held) : future(std::move(held)) {}
  Future<T> future;
};
}  // namespace internal

template <class T>
Future<T> wrap_future(ConcurrentFuture<T> source, EventLoop& loop) {
  Future<T> destination = loop.template create_future<T>();
  // The completing thread refers to the destination by id only; the loop owns it meanwhile,
  // so no loop object is ever touched, copied or freed on that thread.
  std::uint64_t id = loop.adopt_resource(std::make_unique<internal::HeldFuture<T>>(destination));
  auto destination_cancelled = std::make_shared<std::atomic<bool>>(false);
  destination.add_done_callback([source, destination_cancelled, id](Future<T>& done) mutable {
    if (!done.cancelled()) return;
    destination_cancelled->store(true);
    source.cancel();
    done.get_loop().drop_resource(id);
  });
  source.add_done_callback([poster = loop.poster(), destination_cancelled, id,
                            target_loop = &loop](ConcurrentFuture<T>& completed) {
    if (destination_cancelled->load()) return;
    poster->post([completed, id, target_loop] {
      // On the loop thread, so the loop is alive; the resource may be gone (cancelled).
      auto* held = static_cast<internal::HeldFuture<T>*>(target_loop->find_resource(id));
      if (held == nullptr) return;
      if (!held->future.done()) internal::copy_outcome(completed, held->future);
      target_loop->drop_resource(id);
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
