#include "loop/task_core.h"

#include <atomic>

namespace aio::internal {
namespace {

thread_local TaskCore* t_current_task = nullptr;
std::atomic<unsigned long> g_task_counter{0};

}  // namespace

std::vector<TaskRef> pending_tasks(EventLoop& loop) {
  std::vector<TaskRef> tasks;
  for (LoopChild* child : loop.children()) {
    auto* task = dynamic_cast<TaskCore*>(child);
    if (task != nullptr && !task->done()) {
      tasks.emplace_back(Ref<TaskCore>::share(task));
    }
  }
  return tasks;
}

EventLoop& running_loop_or_throw() {
  EventLoop* loop = EventLoop::running_loop();
  if (loop == nullptr) throw RuntimeError("no running event loop");
  return *loop;
}

TaskCore::TaskCore(EventLoop& loop, std::string name, std::source_location where)
    : FutureCore(loop, where),
      name_(name.empty() ? "Task-" + std::to_string(++g_task_counter) : std::move(name)) {
  kind_name_ = "Task";
  loop.register_child(this);
}

void TaskCore::abandon() noexcept {
  if (done()) return;
  waiting_on_ = nullptr;
  clear_callbacks();  // done-callbacks of a task that will never finish only hold cycles
  if (root_) root_.destroy();
  root_ = nullptr;
}

TaskCore::~TaskCore() {
  report_if_unretrieved();
  EventLoop* loop = *liveness_token();
  if (loop != nullptr) loop->unregister_child(this);
  if (!done()) {
    // asyncio's Task.__del__: nobody can wake this task any more.
    if (loop != nullptr) {
      ExceptionContext context;
      context.message = "Task was destroyed but it is pending!";
      context.details["task"] = repr();
      if (loop->get_debug()) context.source_traceback = where();
      try {
        loop->call_exception_handler(context);
      } catch (...) {
        // Destructors cannot propagate.
      }
    }
  }
  if (root_) root_.destroy();  // destroys the whole suspended chain of frames
}

TaskCore* TaskCore::current() noexcept { return t_current_task; }

std::string TaskCore::repr_extra() const {
  std::string text = " name='" + name_ + "'";
  if (!done() && waiting_on_) text += " wait_for=" + waiting_on_->repr();
  return text;
}

void TaskCore::start(std::coroutine_handle<> root) {
  root_ = root;
  resume_at_ = root;
  schedule_step(nullptr);
}

Ref<FutureCore> TaskCore::take_self() {
  if (held_self_ != nullptr && *held_self_) return std::move(*held_self_);
  return self_ref();
}

std::shared_ptr<void> TaskCore::pin() {
  add_ref();
  return std::shared_ptr<void>(this, [](void* task) { static_cast<TaskCore*>(task)->drop_ref(); });
}

void TaskCore::run_step(Ref<FutureCore> self, std::exception_ptr error) {
  // Cleared on every exit, before `self` (if still here) is released: `this` may go then.
  struct Hold {
    Ref<FutureCore>*& slot;
    ~Hold() { slot = nullptr; }
  } hold{held_self_};
  held_self_ = &self;
  step(std::move(error));
}

void TaskCore::schedule_step(std::exception_ptr error) {
  auto describe = [](const void* task) { return static_cast<const TaskCore*>(task)->describe(); };
  if (!error) {
    // The common case; a lambda of one shared_ptr fits the callback's inline storage.
    loop().post_soon(
        [self = take_self()]() mutable {
          auto* task = static_cast<TaskCore*>(self.get());
          task->run_step(std::move(self), nullptr);
        },
        describe, this, where());
    return;
  }
  loop().post_soon(
      [self = take_self(), error = std::move(error)]() mutable {
        auto* task = static_cast<TaskCore*>(self.get());
        task->run_step(std::move(self), std::move(error));
      },
      describe, this, where());
}

void TaskCore::check_user_may_set(const char* operation) const {
  throw RuntimeError(std::string("Task does not support ") + operation + " operation");
}

bool TaskCore::cancel(std::string message) {
  clear_unretrieved();
  if (done()) return false;
  if (waiting_on_ && waiting_on_->cancel(message)) {
    // The awaited future's cancellation wakes this task with CancelledError.
    return true;
  }
  must_cancel_ = true;
  cancel_message_ = std::move(message);
  return true;
}

void TaskCore::suspend_on(const Ref<FutureCore>& future, std::coroutine_handle<> at) {
  resume_at_ = at;
  suspended_properly_ = true;
  if (future.get() == this) {
    schedule_step(std::make_exception_ptr(RuntimeError("Task cannot await on itself: " + repr())));
    return;
  }
  if (!future->same_loop(*this)) {
    schedule_step(std::make_exception_ptr(RuntimeError(
        "Task " + repr() + " got Future " + future->repr() + " attached to a different loop")));
    return;
  }
  waiting_on_ = future.get();
  future->add_waiter(take_self());
  if (must_cancel_ && waiting_on_->cancel(cancel_message_)) must_cancel_ = false;
}

void TaskCore::suspend_yield(std::coroutine_handle<> at) {
  resume_at_ = at;
  suspended_properly_ = true;
  schedule_step(nullptr);
}

void TaskCore::step(std::exception_ptr error) {
  if (done()) return;
  if (must_cancel_) {
    if (!error || !holds<CancelledError>(error)) {
      error = std::make_exception_ptr(CancelledError(cancel_message_));
    }
    must_cancel_ = false;
  }
  waiting_on_ = nullptr;
  resume_exception_ = std::move(error);
  suspended_properly_ = false;
  if (t_current_task != nullptr) {
    throw RuntimeError("Cannot enter into task " + repr() + " while another task " +
                       t_current_task->repr() + " is being executed.");
  }
  // Whoever calls step() (a scheduled step or a wake-up handle) holds a reference to this task,
  // so it stays alive through the step even if the coroutine drops every other one.
  t_current_task = this;
  struct Leave {
    ~Leave() { t_current_task = nullptr; }
  } leave;
  resume_at_.resume();
  if (root_.done()) {
    finish();
  } else if (!suspended_properly_) {
    // The coroutine suspended on an awaiter that is not aio's: nothing would ever wake it.
    schedule_step(std::make_exception_ptr(RuntimeError(
        "Task got bad yield: a coroutine suspended on an awaitable that is not aio's")));
  }
}

void TaskCore::finish() {
  std::exception_ptr error = root_exception();
  if (!error) {
    if (must_cancel_) {
      // Cancelled right before the coroutine returned.
      must_cancel_ = false;
      cancel_future(cancel_message_);
    } else {
      store_result();
    }
  } else if (holds<CancelledError>(error)) {
    cancel_future(exception_message(error));
  } else {
    finish_with_exception(error);
    if (is_interrupt(error)) std::rethrow_exception(error);
  }
  root_.destroy();
  root_ = nullptr;
}

}  // namespace aio::internal
