// The type-independent machinery of aio::Task: stepping a coroutine on the loop.
//
// Like asyncio's Task.__step: each step resumes the coroutine where it last suspended; an
// awaiter that suspends tells the task what it waits for (a future: wake up when it is done; a
// bare yield: step again next iteration). Cancellation is delivered at the suspension point by
// the resumed awaiter, which asks the task for a pending exception first.
#ifndef AIO_LOOP_TASK_CORE_H_
#define AIO_LOOP_TASK_CORE_H_

#include <coroutine>
#include <exception>
#include <memory>
#include <source_location>
#include <string>
#include <vector>

#include "loop/future.h"

namespace aio::internal {

class TaskCore : public FutureCore, public LoopChild {
 public:
  TaskCore(EventLoop& loop, std::string name, std::source_location where);
  ~TaskCore() override;

  // The task running on this thread right now (asyncio.current_task), or nullptr.
  static TaskCore* current() noexcept;

  const std::string& name() const noexcept { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  bool cancel(std::string message) override;
  void wake(Ref<FutureCore> self) override { run_step(std::move(self), nullptr); }
  void check_user_may_set(const char* operation) const override;

  // Schedules the first step (never runs it synchronously).
  void start(std::coroutine_handle<> root);

  // Awaiter interface, called from await_suspend on the task's own thread.
  void suspend_on(const Ref<FutureCore>& future, std::coroutine_handle<> at);
  void suspend_yield(std::coroutine_handle<> at);
  // Called from await_resume: the exception to raise at this point (cancellation), or null.
  std::exception_ptr take_resume_exception() noexcept { return std::move(resume_exception_); }

  std::string describe() const { return repr(); }

  std::shared_ptr<void> pin() override;
  void abandon() noexcept override;

 protected:
  // Moves the finished root coroutine's value into the future (typed part).
  virtual void store_result() = 0;
  // The finished root coroutine's exception, or null.
  virtual std::exception_ptr root_exception() const = 0;
  std::string repr_extra() const override;
  std::coroutine_handle<> root_;

 private:
  void schedule_step(std::exception_ptr error);
  // Runs one step holding `self`; suspending hands that very reference to what the task awaits
  // next (or to the next scheduled step) instead of taking a new one.
  void run_step(Ref<FutureCore> self, std::exception_ptr error);
  Ref<FutureCore> take_self();
  void step(std::exception_ptr error);
  void finish();

  std::string name_;
  std::coroutine_handle<> resume_at_;  // where the next step resumes
  // asyncio's _fut_waiter. A plain pointer: the suspended awaiter in the coroutine frame keeps
  // the future alive until this task resumes (and abandon() clears it before the frame goes).
  FutureCore* waiting_on_ = nullptr;
  std::exception_ptr resume_exception_;  // raised by the awaiter that resumes next
  std::string cancel_message_;
  bool must_cancel_ = false;
  bool suspended_properly_ = false;       // set by suspend_on / suspend_yield
  Ref<FutureCore>* held_self_ = nullptr;  // run_step's reference, while it runs
};

}  // namespace aio::internal

namespace aio {

// A type-erased reference to a task of any result type: what task factories and task listings
// hand out. Keeps the task alive.
class TaskRef {
 public:
  explicit TaskRef(internal::Ref<internal::TaskCore> core) : core_(std::move(core)) {}
  const std::string& get_name() const { return core_->name(); }
  void set_name(std::string name) { core_->set_name(std::move(name)); }
  bool cancel(std::string message = "") { return core_->cancel(std::move(message)); }
  bool done() const { return core_->done(); }
  bool cancelled() const { return core_->status() == internal::FutureCore::Status::kCancelled; }
  // As Future::exception(): null for a value, CancelledError if cancelled, InvalidStateError
  // if pending.
  std::exception_ptr exception() const {
    if (!done()) throw InvalidStateError("Exception is not set.");
    return core_->checked_exception();
  }
  std::string repr() const { return core_->repr(); }
  internal::TaskCore& core() const { return *core_; }
  friend bool operator==(const TaskRef& a, const TaskRef& b) { return a.core_ == b.core_; }

 private:
  internal::Ref<internal::TaskCore> core_;
};

}  // namespace aio

namespace aio::internal {

// The tasks of `loop` that are not done yet.
std::vector<TaskRef> pending_tasks(EventLoop& loop);

// "no running event loop" unless a loop runs on this thread (asyncio.get_running_loop).
EventLoop& running_loop_or_throw();

}  // namespace aio::internal

#endif  // AIO_LOOP_TASK_CORE_H_
