// MultiLoopChildWatcher (CPython 3.8's): one process-wide SIGCHLD handler, installed with
// sigaction by attach_loop() (on first use), serving loops on any thread: each child is
// reported to the loop that registered it, through call_soon_threadsafe.
//
// In Python the handler runs as ordinary code on the main thread; a C handler may only do
// async-signal-safe things, so ours writes a byte to a pipe and a helper thread ("aio-sigchld")
// does what 3.8's _sig_chld does: waitpid(pid, WNOHANG) for each registered pid. The handler is
// SA_RESTART (3.8's siginterrupt(SIGCHLD, False)). Only one MultiLoopChildWatcher can hold
// SIGCHLD at a time. The loop reported to is the one running on the registering thread, else the
// last one passed to attach_loop() (3.8 requires a running loop).
#ifndef AIO_PROCESS_MULTI_LOOP_CHILD_WATCHER_H_
#define AIO_PROCESS_MULTI_LOOP_CHILD_WATCHER_H_

#include <signal.h>

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "process/child_watcher.h"

namespace aio {
namespace internal {
class LoopPoster;
}  // namespace internal
}  // namespace aio

namespace aio::process {

class MultiLoopChildWatcher final : public AbstractChildWatcher {
 public:
  MultiLoopChildWatcher() = default;
  ~MultiLoopChildWatcher() override;

  // Registers (or replaces) the callback for the running (else attached) loop, then checks the
  // child at once. RuntimeError("no running event loop") without either; ValueError for pid <= 0.
  void add_child_handler(pid_t pid, ChildCallback callback) override;
  bool remove_child_handler(pid_t pid) override;
  // Installs the SIGCHLD handler and its thread the first time (later calls only change the
  // fallback loop). RuntimeError if another MultiLoopChildWatcher holds SIGCHLD; OSError if the
  // pipe or the thread cannot be made (then nothing is installed).
  void attach_loop(EventLoop* loop) override;
  // Drops every callback and gives SIGCHLD back: the previous disposition is restored unless
  // someone replaced our handler meanwhile ("SIGCHLD handler was changed by outside code").
  void close() override;
  // True from attach_loop() to close().
  bool is_active() const override;

 private:
  struct Entry {
    std::shared_ptr<aio::internal::LoopPoster> poster;
    const void* loop = nullptr;
    ChildCallback callback;
  };

  void install();     // the handler, its pipe and its thread; mutex_ held
  void run_reaper();  // the helper thread
  void do_waitpid_all();
  void do_waitpid(pid_t pid);

  mutable std::mutex mutex_;
  std::map<pid_t, Entry> callbacks_;      // guarded by mutex_
  std::shared_ptr<EventLoop*> liveness_;  // the fallback loop's token; guarded by mutex_
  // Serialises waitpid for registered pids between the registering threads and the helper, so a
  // child is never reaped by one and reported as 255 by the other.
  std::mutex reap_mutex_;

  bool installed_ = false;  // guarded by mutex_
  struct sigaction saved_{};
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::thread reaper_;
};

}  // namespace aio::process

#endif  // AIO_PROCESS_MULTI_LOOP_CHILD_WATCHER_H_
