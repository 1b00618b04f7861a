// ThreadedChildWatcher (CPython 3.8's): one thread per child, blocking in waitpid(pid), that
// hands the exit to the loop with call_soon_threadsafe. It needs no signal handler and no main
// thread, so it works for loops on any thread; the price is a thread (and its stack) per child
// that is running. The loop reported to is the one running on the thread that registered the
// child, else the one given to attach_loop() (3.8 requires a running loop).
//
// Differences from 3.8, all so that the AbstractChildWatcher contract holds (docs/API.md):
// registering a pid again replaces its callback instead of starting a second waiter (which
// would report 255); remove_child_handler() really drops the callback and says whether there
// was one (3.8's is a no-op returning True). The waiting thread still reaps a removed child, so
// no zombie is left. close() does not wait for children still running (3.8's threads are
// daemons); their exits are still delivered.
#ifndef AIO_PROCESS_THREADED_CHILD_WATCHER_H_
#define AIO_PROCESS_THREADED_CHILD_WATCHER_H_

#include <memory>

#include "process/child_watcher.h"

namespace aio::process {

class ThreadedChildWatcher final : public AbstractChildWatcher {
 public:
  ThreadedChildWatcher();
  ~ThreadedChildWatcher() override;

  // RuntimeError("no running event loop") if no loop runs on this thread and none is
  // attached; ValueError for pid <= 0; RuntimeError if no thread can be started (then nothing
  // is registered).
  void add_child_handler(pid_t pid, ChildCallback callback) override;
  bool remove_child_handler(pid_t pid) override;
  void attach_loop(EventLoop* loop) override;
  void close() override;
  bool is_active() const override { return true; }

  // Threads still waiting for a child (3.8's _threads): for tests and diagnostics.
  int waiting_threads() const;

  struct State;  // shared with the waiting threads, which may outlive the watcher

 private:
  std::shared_ptr<State> state_;
};

}  // namespace aio::process

#endif  // AIO_PROCESS_THREADED_CHILD_WATCHER_H_
