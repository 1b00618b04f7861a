// FastChildWatcher (CPython 3.8's): on every SIGCHLD, reaps every exited child of the process
// with waitpid(-1, WNOHANG), O(exited children) per signal whatever the number registered. It
// also reaps children other code spawned and waits for (they then see ECHILD), so use it only
// when aio owns every child. Needs a loop attached on the main thread (//signals).
//
// Spawning must happen inside enter()/exit() (ChildWatcherScope, 3.8's `with watcher:`): an
// exit reaped while a scope is open is remembered for a pid not registered yet and reported when
// it registers; exits of unknown pids outside any scope, and those still unclaimed when the last
// scope closes, are logged ("Caught subprocess termination from unknown pid(s)") and dropped.
//
// One addition to 3.8: registering a pid that is no child of ours any more (reaped by someone
// else before it was registered) reports 255 with the usual warning, instead of never reporting.
#ifndef AIO_PROCESS_FAST_CHILD_WATCHER_H_
#define AIO_PROCESS_FAST_CHILD_WATCHER_H_

#include <map>
#include <mutex>

#include "process/sigchld_child_watcher.h"

namespace aio::process {

class FastChildWatcher final : public internal::SigchldChildWatcher {
 public:
  FastChildWatcher() = default;
  ~FastChildWatcher() override = default;

  // Registers (or replaces) the callback; an exit already remembered for `pid` is reported
  // before this returns. RuntimeError("Must use the context manager") outside enter()/exit()
  // (3.8's assertion); RuntimeError without an attached loop; ValueError for pid <= 0.
  void add_child_handler(pid_t pid, ChildCallback callback) override;
  bool remove_child_handler(pid_t pid) override;
  // Drops every callback and remembered exit, then detaches.
  void close() override;
  void enter() override;
  void exit() override;

 private:
  void do_waitpid_all() override;

  // enter()/exit() may come from another thread than the loop's (3.8 has the same lock).
  std::mutex mutex_;
  int forks_ = 0;                 // open scopes; guarded by mutex_
  std::map<pid_t, int> zombies_;  // exits of unregistered pids; guarded by mutex_
};

}  // namespace aio::process

#endif  // AIO_PROCESS_FAST_CHILD_WATCHER_H_
