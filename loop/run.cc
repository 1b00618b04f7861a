#include "loop/run.h"

#include <vector>

#include "loop/logging.h"

namespace aio::internal {

void cancel_all_tasks(EventLoop& loop) {
  std::vector<TaskRef> tasks = pending_tasks(loop);
  if (tasks.empty()) return;
  for (TaskRef& task : tasks) task.cancel();
  Future<void> all_done = loop.create_future();
  auto remaining = std::make_shared<std::size_t>(tasks.size());
  for (TaskRef& task : tasks) {
    task.core().add_callback(
        [all_done, remaining](const Ref<FutureCore>&) mutable {
          if (--*remaining == 0 && !all_done.done()) all_done.set_result();
        },
        nullptr);
  }
  loop.run_until_complete(all_done);
  for (TaskRef& task : tasks) {
    if (task.cancelled()) continue;
    if (std::exception_ptr error = task.exception()) {
      ExceptionContext context;
      context.message = "unhandled exception during aio::run() shutdown";
      context.exception = error;
      context.details["task"] = ContextValue(task.repr(), task);
      loop.call_exception_handler(context);
    }
  }
}

void finish_run(EventLoop& loop) noexcept {
  try {
    cancel_all_tasks(loop);
    loop.run_until_complete(loop.shutdown_default_executor());
  } catch (...) {
    log(LogLevel::kError,
        "aio::run() shutdown failed\n" + describe_exception(std::current_exception()));
  }
  set_event_loop(nullptr);
  loop.close();
}

}  // namespace aio::internal
