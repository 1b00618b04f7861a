#include "loop/run_in_executor.h"

#include <thread>

namespace aio {

Coro<void> EventLoop::shutdown_default_executor() {
  executor_shutdown_called_ = true;
  if (!default_executor_) co_return;
  Future<void> done = create_future();
  std::uint64_t id = adopt_resource(std::make_unique<internal::HeldFuture<void>>(done));
  // shutdown(wait=true) blocks: do it on a helper thread and resume when it reports back.
  std::thread helper([executor = default_executor_, poster = poster_, id, loop = this] {
    executor->shutdown(true);
    poster->post([id, loop] {
      auto* held = static_cast<internal::HeldFuture<void>*>(loop->find_resource(id));
      if (held == nullptr) return;
      if (!held->future.done()) held->future.set_result();
      loop->drop_resource(id);
    });
  });
  struct Join {
    std::thread& thread;
    ~Join() { thread.join(); }
  } join{helper};
  co_await done;
}

}  // namespace aio
