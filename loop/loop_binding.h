// asyncio 3.10's _LoopBoundMixin, for the primitives and queues that may be created anywhere:
// they bind to the running loop the first time they make a task wait.
#ifndef AIO_LOOP_LOOP_BINDING_H_
#define AIO_LOOP_LOOP_BINDING_H_

#include <memory>

#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/task.h"

namespace aio::internal {

class LoopBinding {
 public:
  // The running loop; RuntimeError("no running event loop") outside one, RuntimeError("<repr> is
  // bound to a different event loop") if already bound to another (also to a destroyed one).
  template <class Describe>
  EventLoop& get(Describe&& describe) {
    EventLoop& loop = get_running_loop();
    if (!token_) {
      token_ = loop.liveness();
    } else if (token_ != loop.liveness()) {
      throw RuntimeError(describe() + " is bound to a different event loop");
    }
    return loop;
  }

 private:
  std::shared_ptr<EventLoop*> token_;  // the loop's liveness token: unique per loop, never reused
};

}  // namespace aio::internal

#endif  // AIO_LOOP_LOOP_BINDING_H_
