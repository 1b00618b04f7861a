#include "loop/run_in_executor.h"

#include <thread>

namespace aio {

Coro<void> EventLoop::shutdown_default_executor() {
  executor_shutdown_called_ = true;
  if (!default_executor_) co_return;
  Future<void> done = create_future();
  std::weak_ptr<internal::FutureCore> weak = done.state();
  // shutdown(wait=true) blocks: do it on a helper thread and resume when it reports back.
  std::thread helper([executor = default_executor_, poster = poster_, weak] {
    executor->shutdown(true);
    poster->post([weak] {
      if (std::shared_ptr<internal::FutureCore> core = weak.lock(); core && !core->done()) {
        Future<void>(std::move(core), nullptr).set_result();
      }
    });
  });
  struct Join {
    std::thread& thread;
    ~Join() { thread.join(); }
  } join{helper};
  co_await done;
}

}  // namespace aio
