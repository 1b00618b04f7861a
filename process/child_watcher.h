// The child-watcher interface of CPython 3.8's asyncio (unix_events.AbstractChildWatcher): how
// the loop learns that a child it spawned has exited. Every watcher in //process implements it
// (PidfdChildWatcher, the default on Linux; ThreadedChildWatcher; SafeChildWatcher and
// FastChildWatcher over SIGCHLD; MultiLoopChildWatcher), so subprocess code depends only on this.
#ifndef AIO_PROCESS_CHILD_WATCHER_H_
#define AIO_PROCESS_CHILD_WATCHER_H_

#include <sys/types.h>

#include "absl/functional/any_invocable.h"

namespace aio {
class EventLoop;
}  // namespace aio

namespace aio::process {

// Called exactly once per registration, on the thread of the loop the watcher reports to, when
// child `pid` has exited. `returncode` follows asyncio: the exit status, or -N when signal N
// killed the child; 255 when someone else reaped it (a warning is logged).
using ChildCallback = absl::AnyInvocable<void(pid_t pid, int returncode)>;

class AbstractChildWatcher {
 public:
  virtual ~AbstractChildWatcher() = default;

  // Calls `callback` once `pid` exits. Registering a pid again replaces its callback.
  virtual void add_child_handler(pid_t pid, ChildCallback callback) = 0;
  // Drops the callback for `pid`; false if none was registered.
  virtual bool remove_child_handler(pid_t pid) = 0;
  // Reports to `loop` from now on (nullptr detaches). Watchers that need no loop ignore it.
  virtual void attach_loop(EventLoop* loop) = 0;
  // Releases what the watcher holds (signal handlers, threads, fds).
  virtual void close() = 0;
  // False when subprocess creation must fail (e.g. a SIGCHLD watcher with no loop attached).
  virtual bool is_active() const = 0;
  // CPython's `with watcher:` (__enter__/__exit__): subprocess code brackets spawning a child
  // and registering it with these (ChildWatcherScope). FastChildWatcher needs it to keep the
  // exit of a child that ends before its registration; the other watchers ignore it.
  virtual void enter() {}
  virtual void exit() {}
};

// RAII for enter()/exit(): `ChildWatcherScope scope(watcher); pid = spawn(); add_child_handler`.
class ChildWatcherScope {
 public:
  explicit ChildWatcherScope(AbstractChildWatcher& watcher) : watcher_(watcher) {
    watcher_.enter();
  }
  ~ChildWatcherScope() { watcher_.exit(); }
  ChildWatcherScope(const ChildWatcherScope&) = delete;
  ChildWatcherScope& operator=(const ChildWatcherScope&) = delete;

 private:
  AbstractChildWatcher& watcher_;
};

}  // namespace aio::process

#endif  // AIO_PROCESS_CHILD_WATCHER_H_
