// asyncio's wait, as_completed, current_task, all_tasks and run_coroutine_threadsafe.
#ifndef AIO_LOOP_WAITING_H_
#define AIO_LOOP_WAITING_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "loop/combinators.h"
#include "loop/concurrent_future.h"
#include "loop/coro.h"
#include "loop/future.h"
#include "loop/run_in_executor.h"
#include "loop/task.h"

namespace aio {

// --- current_task / all_tasks -----------------------------------------------------------------

// The task running on `loop` (default: the running loop) right now, or nullopt.
inline std::optional<TaskRef> current_task(EventLoop* loop = nullptr) {
  EventLoop& target = loop ? *loop : get_running_loop();
  internal::TaskCore* task = internal::TaskCore::current();
  if (task == nullptr || &target != EventLoop::running_loop()) return std::nullopt;
  return TaskRef(internal::Ref<internal::TaskCore>::share(task));
}

// The tasks of `loop` (default: the running loop) that are not done yet.
inline std::vector<TaskRef> all_tasks(EventLoop* loop = nullptr) {
  return internal::pending_tasks(loop ? *loop : get_running_loop());
}

// --- wait -------------------------------------------------------------------------------------

enum class ReturnWhen { kFirstCompleted, kFirstException, kAllCompleted };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::kFirstCompleted;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::kFirstException;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::kAllCompleted;

template <class T>
struct WaitResult {
  std::vector<Future<T>> done;     // in input order
  std::vector<Future<T>> pending;  // in input order
};

// Waits until `return_when` is satisfied or `timeout` seconds pass (negative: no limit), and
// splits the futures into done and pending. Never cancels anything, never raises TimeoutError.
// ValueError for an empty list ("Set of coroutines/Futures is empty.").
template <class T>
Coro<WaitResult<T>> wait(std::vector<Future<T>> futures, double timeout = -1,
                         ReturnWhen return_when = ALL_COMPLETED) {
  if (futures.empty()) throw ValueError("Set of coroutines/Futures is empty.");
  EventLoop& loop = get_running_loop();
  Future<void> waiter = loop.create_future();
  auto release = [waiter]() mutable {
    if (!waiter.done()) waiter.set_result();
  };
  TimerHandle timeout_handle;
  if (timeout >= 0) timeout_handle = loop.call_later(timeout, release);
  auto remaining = std::make_shared<std::size_t>(futures.size());
  std::vector<DoneCallbackId> callbacks;
  for (Future<T>& future : futures) {
    callbacks.push_back(future.add_done_callback([remaining, return_when,
                                                  release](Future<T>& f) mutable {
      --*remaining;
      bool failed = return_when == FIRST_EXCEPTION && !f.cancelled() && f.exception() != nullptr;
      if (*remaining == 0 || return_when == FIRST_COMPLETED || failed) release();
    }));
  }
  struct Cleanup {
    std::vector<Future<T>>& futures;
    std::vector<DoneCallbackId>& callbacks;
    TimerHandle& timeout_handle;
    ~Cleanup() {
      timeout_handle.cancel();
      for (std::size_t i = 0; i < futures.size(); ++i)
        futures[i].remove_done_callback(callbacks[i]);
    }
  } cleanup{futures, callbacks, timeout_handle};
  co_await waiter;
  WaitResult<T> result;
  for (Future<T>& future : futures)
    (future.done() ? result.done : result.pending).push_back(future);
  co_return result;
}
template <class T>
Coro<WaitResult<T>> wait(std::vector<Coro<T>> coros, double timeout = -1,
                         ReturnWhen return_when = ALL_COMPLETED) {
  std::vector<Future<T>> futures;
  for (Coro<T>& coro : coros) futures.push_back(ensure_future(std::move(coro)));
  co_return co_await wait(std::move(futures), timeout, return_when);
}

// --- as_completed -----------------------------------------------------------------------------

// as_completed(futures, timeout): one awaitable per future, each yielding the next result to
// complete (value or exception). After `timeout` seconds (negative: no limit) the awaitables
// still to come raise TimeoutError. Reads like asyncio's loop:
//
//   for (aio::Coro<int> next : aio::as_completed(futures, 5.0)) {
//     int value = co_await std::move(next);
//   }
template <class T>
class AsCompleted {
  struct State {
    std::deque<std::optional<Future<T>>> finished;  // nullopt: the timeout passed
    std::vector<Future<T>> todo;
    std::vector<DoneCallbackId> callbacks;
    Future<void> waiter;
    TimerHandle timeout_handle;
  };

 public:
  AsCompleted(std::vector<Future<T>> futures, double timeout) : state_(std::make_shared<State>()) {
    count_ = futures.size();
    if (futures.empty()) return;
    EventLoop& loop = futures.front().get_loop();
    std::weak_ptr<State> weak = state_;
    for (Future<T>& future : futures) {
      state_->todo.push_back(future);
      state_->callbacks.push_back(future.add_done_callback([weak](Future<T>& done) {
        if (auto state = weak.lock()) on_completion(*state, done);
      }));
    }
    if (timeout >= 0) {
      state_->timeout_handle = loop.call_later(timeout, [weak] {
        if (auto state = weak.lock()) on_timeout(*state);
      });
    }
  }
  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;
  AsCompleted(AsCompleted&&) = default;
  ~AsCompleted() {
    if (!state_) return;
    state_->timeout_handle.cancel();
    for (std::size_t i = 0; i < state_->todo.size(); ++i) {
      state_->todo[i].remove_done_callback(state_->callbacks[i]);
    }
  }

  std::size_t size() const noexcept { return count_; }

  // The next future to complete: its value, or its exception; TimeoutError once the timeout
  // has passed.
  Coro<T> next() { return next_of(state_); }

  class iterator {
   public:
    using value_type = Coro<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(AsCompleted* owner, std::size_t index) : owner_(owner), index_(index) {}
    Coro<T> operator*() const { return owner_->next(); }
    iterator& operator++() {
      ++index_;
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++index_;
      return before;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.index_ == b.index_; }

   private:
    AsCompleted* owner_ = nullptr;
    std::size_t index_ = 0;
  };
  iterator begin() { return iterator(this, 0); }
  iterator end() { return iterator(this, count_); }

 private:
  static void on_completion(State& state, Future<T>& done) {
    if (state.todo.empty()) return;
    state.finished.push_back(done);
    if (state.waiter && !state.waiter.done()) state.waiter.set_result();
  }
  static void on_timeout(State& state) {
    std::size_t pending = 0;
    for (std::size_t i = 0; i < state.todo.size(); ++i) {
      if (state.todo[i].done()) continue;
      state.todo[i].remove_done_callback(state.callbacks[i]);
      ++pending;
    }
    for (std::size_t i = 0; i < pending; ++i) state.finished.push_back(std::nullopt);
    if (state.waiter && !state.waiter.done()) state.waiter.set_result();
  }
  // Keeps the state alive across the suspension even if the AsCompleted object goes away.
  static Coro<T> next_of(std::shared_ptr<State> state) {
    while (state->finished.empty()) {
      state->waiter = get_running_loop().create_future();
      co_await state->waiter;
    }
    std::optional<Future<T>> next = std::move(state->finished.front());
    state->finished.pop_front();
    if (!next) throw TimeoutError();
    co_return next->take_result();
  }

  std::shared_ptr<State> state_;
  std::size_t count_ = 0;
};

template <class T>
AsCompleted<T> as_completed(std::vector<Future<T>> futures, double timeout = -1) {
  return AsCompleted<T>(std::move(futures), timeout);
}

// --- run_coroutine_threadsafe -----------------------------------------------------------------

// From another thread: schedules `coro` as a task on `loop` and returns a thread-safe future
// for its outcome. The caller may wait on it with a timeout (result(timeout)) and cancel it,
// which cancels the task on the loop. RuntimeError if the loop is closed; if the loop closes
// before the coroutine starts, the future is cancelled.
namespace internal {
// run_coroutine_threadsafe's task, owned by its loop until it is done. If the loop closes first,
// the waiting thread's future is cancelled rather than left pending forever.
template <class T>
struct ThreadsafeTask final : LoopResource {
  ThreadsafeTask(Task<T> task, ConcurrentFuture<T> result)
      : task(std::move(task)), result(std::move(result)) {}
  ~ThreadsafeTask() override {
    if (!result.done()) result.cancel();
  }
  Task<T> task;
  ConcurrentFuture<T> result;
};
}  // namespace internal

template <class T>
ConcurrentFuture<T> run_coroutine_threadsafe(Coro<T> coro, EventLoop& loop) {
  ConcurrentFuture<T> result;
  // Cancels `result` if the loop drops the job without running it (closed meanwhile).
  struct Start {
    explicit Start(ConcurrentFuture<T> r) : result(std::move(r)) {}
    ~Start() {
      if (!started) result.cancel();
    }
    ConcurrentFuture<T> result;
    bool started = false;
  };
  auto start = std::make_unique<Start>(result);
  bool posted = loop.poster()->post(
      [coro = std::move(coro), start = std::move(start), target = &loop]() mutable {
        start->started = true;
        ConcurrentFuture<T> result = start->result;
        Task<T> task = target->create_task(std::move(coro));
        // The other thread names the task by id only; the loop owns it meanwhile.
        std::uint64_t id =
            target->adopt_resource(std::make_unique<internal::ThreadsafeTask<T>>(task, result));
        task.add_done_callback([result, id](Future<T>& done) mutable {
          if (done.cancelled()) {
            result.cancel();
          } else if (result.set_running_or_notify_cancel()) {
            if (std::exception_ptr error = done.exception()) {
              result.set_exception(error);
            } else if constexpr (std::is_void_v<T>) {
              result.set_result();
            } else {
              result.set_result(done.take_result());
            }
          }
          done.get_loop().drop_resource(id);
        });
        // Cancelling from the waiting thread cancels the task, on the loop's thread.
        result.add_done_callback([poster = target->poster(), id, target](ConcurrentFuture<T>& f) {
          if (!f.cancelled()) return;
          poster->post([id, target] {
            if (auto* held = static_cast<internal::ThreadsafeTask<T>*>(target->find_resource(id))) {
              held->task.cancel();
            }
          });
        });
      });
  if (!posted) throw RuntimeError("Event loop is closed");
  return result;
}

}  // namespace aio

#endif  // AIO_LOOP_WAITING_H_
