// aio::Task<T>: asyncio.Task, a coroutine scheduled on a loop, which is also a Future<T>.
//
//   aio::Coro<int> answer() { co_await aio::sleep(0.01); co_return 42; }
//   aio::Task<int> task = loop.create_task(answer(), "answer");
//   int value = loop.run_until_complete(task);          // or run_until_complete(answer())
#ifndef AIO_LOOP_TASK_H_
#define AIO_LOOP_TASK_H_

#include <memory>
#include <source_location>
#include <string>
#include <utility>

#include "loop/coro.h"
#include "loop/future.h"
#include "loop/task_core.h"

namespace aio {

namespace internal {

template <class T>
class TaskState final : public TaskCore, public ValueBox<T> {
 public:
  using TaskCore::TaskCore;

  void adopt(typename Coro<T>::handle_type root) {
    promise_ = &root.promise();
    start(root);
  }

 private:
  void store_result() override {
    if constexpr (!std::is_void_v<T>) this->value.emplace(promise_->take());
    mark_finished();
    schedule_callbacks();
  }
  std::exception_ptr root_exception() const override { return promise_->exception; }

  typename Coro<T>::promise_type* promise_ = nullptr;
};

}  // namespace internal

template <class T = void>
class Task : public Future<T> {
 public:
  Task() = default;

  const std::string& get_name() const { return core_->name(); }
  void set_name(std::string name) { core_->set_name(std::move(name)); }

  // Requests cancellation: CancelledError is raised inside the coroutine at its current await
  // point (it may catch it). False if the task is already done.
  bool cancel(std::string message = "") { return core_->cancel(std::move(message)); }

  // "<Task pending name='Task-1' wait_for=<Future pending>>", "<Task finished name='x'>", ...
  std::string repr() const { return core_->repr(); }

  // Internal.
  Task(internal::Ref<internal::FutureCore> state, internal::ValueBox<T>* box,
       internal::TaskCore* core)
      : Future<T>(std::move(state), box), core_(core) {}

 private:
  internal::TaskCore* core_ = nullptr;  // the same object as the Future's state
};

template <class T>
Task<T> EventLoop::create_task(Coro<T> coro, std::string name, std::source_location where) {
  check_closed();
  if (!coro) throw ValueError("create_task() needs a coroutine, not an empty Coro");
  auto state = internal::Ref<internal::TaskState<T>>::adopt(
      new internal::TaskState<T>(*this, std::move(name), where));
  if (task_factory_) {
    try {
      task_factory_(*this, TaskRef(internal::Ref<internal::TaskCore>(state)));
    } catch (...) {
      state->cancel_future("");  // never started: nothing to report, nothing runs
      throw;
    }
  }
  state->adopt(coro.release());
  internal::ValueBox<T>* box = state.get();
  internal::TaskCore* core = state.get();
  return Task<T>(internal::Ref<internal::FutureCore>(std::move(state)), box, core);
}

template <class T>
T EventLoop::run_until_complete(Coro<T> coro) {
  check_runnable();
  Task<T> task = create_task(std::move(coro));
  return run_future_until_complete(Future<T>(task), /*owned_task=*/true);
}

// asyncio.get_running_loop(): the loop running on this thread; RuntimeError("no running event
// loop") outside one.
inline EventLoop& get_running_loop() { return internal::running_loop_or_throw(); }

// asyncio.create_task: a Task on the running loop (RuntimeError "no running event loop"
// outside one).
template <class T>
Task<T> create_task(Coro<T> coro, std::string name = "",
                    std::source_location where = std::source_location::current()) {
  return get_running_loop().create_task(std::move(coro), std::move(name), where);
}

// asyncio.sleep: suspends the current task for `delay` seconds (0 or less: one loop iteration).
inline Coro<void> sleep(double delay) {
  if (delay <= 0) {
    co_await internal::YieldAwaiter{};
    co_return;
  }
  EventLoop& loop = get_running_loop();
  Future<void> wakeup = loop.create_future();
  TimerHandle timer = loop.call_later(delay, [wakeup]() mutable {
    if (!wakeup.done()) wakeup.set_result();
  });
  try {
    co_await wakeup;
  } catch (...) {
    timer.cancel();  // cancelled while sleeping: drop the timer at once
    throw;
  }
}

// asyncio.sleep(delay, result).
template <class T>
Coro<T> sleep(double delay, T result) {
  co_await sleep(delay);
  co_return std::move(result);
}

}  // namespace aio

#endif  // AIO_LOOP_TASK_H_
