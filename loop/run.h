// aio::run(main): asyncio.run. A new loop runs `main` to completion; then the remaining tasks
// are cancelled and awaited, the default executor is shut down, and the loop is closed.
#ifndef AIO_LOOP_RUN_H_
#define AIO_LOOP_RUN_H_

#include <memory>
#include <utility>

#include "loop/coro.h"
#include "loop/policy.h"
#include "loop/run_in_executor.h"
#include "loop/task.h"

namespace aio {

namespace internal {
// Cancels every pending task of `loop` and runs the loop until they are done; exceptions they
// end with are reported ("unhandled exception during aio::run() shutdown").
void cancel_all_tasks(EventLoop& loop);
// aio::run's epilogue: cancel_all_tasks, shutdown_default_executor, clear the current loop,
// close. Errors on the way are reported, never thrown (it runs during unwinding too).
void finish_run(EventLoop& loop) noexcept;
}  // namespace internal

template <class T>
T run(Coro<T> main, bool debug = false) {
  if (EventLoop::running_loop() != nullptr) {
    throw RuntimeError("aio::run() cannot be called from a running event loop");
  }
  std::unique_ptr<EventLoop> loop = new_event_loop();
  set_event_loop(loop.get());
  loop->set_debug(debug);
  struct Finish {
    EventLoop& loop;
    ~Finish() { internal::finish_run(loop); }
  } finish{*loop};
  return loop->run_until_complete(std::move(main));
}

}  // namespace aio

#endif  // AIO_LOOP_RUN_H_
