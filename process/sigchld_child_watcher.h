// The part SafeChildWatcher and FastChildWatcher share (CPython 3.8's BaseChildWatcher): a
// SIGCHLD handler on the attached loop through //signals (add_signal_handler, so it runs as an
// ordinary loop callback, on the main thread), which calls the subclass's do_waitpid_all().
// Callbacks therefore run on the loop thread, synchronously inside the SIGCHLD callback (or
// inside add_child_handler when the child has already exited), as in 3.8.
#ifndef AIO_PROCESS_SIGCHLD_CHILD_WATCHER_H_
#define AIO_PROCESS_SIGCHLD_CHILD_WATCHER_H_

#include <map>
#include <memory>

#include "process/child_watcher.h"

namespace aio::process::internal {

class SigchldChildWatcher : public AbstractChildWatcher {
 public:
  ~SigchldChildWatcher() override;

  bool remove_child_handler(pid_t pid) override;
  // Moves the SIGCHLD handler from the old loop to `loop` (nullptr: none) and then looks for
  // children that exited meanwhile. Detaching with handlers pending logs 3.8's
  // "A loop is being detached from a child watcher with pending handlers" (a RuntimeWarning
  // there). Errors of add_signal_handler (not the main thread, SIGCHLD owned by another loop,
  // closed loop) propagate and leave the watcher detached.
  void attach_loop(EventLoop* loop) override;
  void close() override;
  // Attached to a loop that is running (3.8: a loop that is not running would never see the
  // signal, so subprocess creation refuses it).
  bool is_active() const override;

 protected:
  SigchldChildWatcher();
  // The attached loop, or nullptr (also once that loop was destroyed).
  EventLoop* loop() const { return liveness_ ? *liveness_ : nullptr; }
  // RuntimeError("Cannot add child handler, the child watcher does not have a loop attached").
  void check_attached() const;
  // Reaps what exited and calls the callbacks. A callback's exception propagates.
  virtual void do_waitpid_all() = 0;

  std::map<pid_t, ChildCallback> callbacks_;

 private:
  void on_sigchld();

  std::shared_ptr<EventLoop*> liveness_;        // the attached loop's liveness token
  std::shared_ptr<SigchldChildWatcher*> self_;  // what queued SIGCHLD deliveries reach us by
};

}  // namespace aio::process::internal

#endif  // AIO_PROCESS_SIGCHLD_CHILD_WATCHER_H_
