// PidfdChildWatcher (CPython 3.9's, Linux >= 5.3): each child gets a pidfd (pidfd_open), which
// turns readable when the child exits; the loop that was running when the child was registered
// watches it like any fd, then reaps that one pid with waitpid. No signal handler, no thread,
// no waitpid(-1): it cannot steal other code's children, and it works from any thread's loop.
// That is why it is aio's default (see docs/API.md).
#ifndef AIO_PROCESS_PIDFD_CHILD_WATCHER_H_
#define AIO_PROCESS_PIDFD_CHILD_WATCHER_H_

#include <memory>

#include "process/child_watcher.h"

namespace aio::process {

class PidfdChildWatcher final : public AbstractChildWatcher {
 public:
  PidfdChildWatcher();
  ~PidfdChildWatcher() override;

  // Needs a running loop on the calling thread (RuntimeError("no running event loop")); the
  // callback runs on that loop. OSError if pidfd_open fails (ProcessLookupError: no such pid).
  void add_child_handler(pid_t pid, ChildCallback callback) override;
  bool remove_child_handler(pid_t pid) override;
  void attach_loop(EventLoop* loop) override {}
  void close() override;
  bool is_active() const override { return true; }

  class State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace aio::process

#endif  // AIO_PROCESS_PIDFD_CHILD_WATCHER_H_
