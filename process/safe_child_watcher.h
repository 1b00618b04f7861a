// SafeChildWatcher (CPython 3.8's): on every SIGCHLD, waitpid(pid, WNOHANG) for each registered
// pid. It never reaps a child it was not asked about, so it coexists with code that waits for
// its own children; the cost is O(registered children) syscalls per SIGCHLD. Needs a loop
// attached on the main thread (SIGCHLD goes through //signals' add_signal_handler).
#ifndef AIO_PROCESS_SAFE_CHILD_WATCHER_H_
#define AIO_PROCESS_SAFE_CHILD_WATCHER_H_

#include "process/sigchld_child_watcher.h"

namespace aio::process {

class SafeChildWatcher final : public internal::SigchldChildWatcher {
 public:
  SafeChildWatcher() = default;
  ~SafeChildWatcher() override = default;

  // Registers (or replaces) the callback, then checks the child at once: one that already
  // exited is reported before this returns. RuntimeError without an attached loop; ValueError
  // for pid <= 0.
  void add_child_handler(pid_t pid, ChildCallback callback) override;
  // Drops every callback, then detaches.
  void close() override;

 private:
  void do_waitpid_all() override;
  void do_waitpid(pid_t pid);
};

}  // namespace aio::process

#endif  // AIO_PROCESS_SAFE_CHILD_WATCHER_H_
