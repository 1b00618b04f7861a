#include "process/sigchld_child_watcher.h"

#include <signal.h>

#include <exception>
#include <utility>

#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/exception_context.h"
#include "loop/logging.h"
#include "signals/signals.h"

namespace aio::process::internal {

SigchldChildWatcher::SigchldChildWatcher() : self_(std::make_shared<SigchldChildWatcher*>(this)) {}

SigchldChildWatcher::~SigchldChildWatcher() {
  // Not close(): a subclass's close() is gone by now. Detach quietly; a SIGCHLD delivery still
  // queued on the loop finds *self_ == nullptr.
  *self_ = nullptr;
  if (EventLoop* attached = loop(); attached != nullptr && !attached->is_closed()) {
    try {
      remove_signal_handler(*attached, SIGCHLD);
    } catch (const std::exception&) {
      // Destroyed off the main thread (ValueError): the handler stays until the loop closes,
      // and its deliveries find *self_ == nullptr.
    }
  }
}

bool SigchldChildWatcher::remove_child_handler(pid_t pid) { return callbacks_.erase(pid) > 0; }

void SigchldChildWatcher::attach_loop(EventLoop* new_loop) {
  EventLoop* old = loop();
  if (old != nullptr && new_loop == nullptr && !callbacks_.empty()) {
    log(LogLevel::kWarning, "A loop is being detached from a child watcher with pending handlers");
  }
  if (old != nullptr && !old->is_closed()) remove_signal_handler(*old, SIGCHLD);
  liveness_ = nullptr;
  if (new_loop == nullptr) return;
  std::weak_ptr<SigchldChildWatcher*> self = self_;
  add_signal_handler(*new_loop, SIGCHLD, [self] {
    if (auto watcher = self.lock(); watcher && *watcher) (*watcher)->on_sigchld();
  });
  liveness_ = new_loop->liveness();
  // A child may have exited before the handler was there: look once now.
  do_waitpid_all();
}

void SigchldChildWatcher::close() { attach_loop(nullptr); }

bool SigchldChildWatcher::is_active() const {
  EventLoop* attached = loop();
  return attached != nullptr && attached->is_running();
}

void SigchldChildWatcher::check_attached() const {
  if (loop() == nullptr) {
    throw RuntimeError("Cannot add child handler, the child watcher does not have a loop attached");
  }
}

void SigchldChildWatcher::on_sigchld() {
  EventLoop* attached = loop();
  try {
    do_waitpid_all();
  } catch (const Interrupt&) {
    throw;
  } catch (...) {
    if (attached == nullptr) return;
    ExceptionContext context;
    context.message = "Unknown exception in SIGCHLD handler";
    context.exception = std::current_exception();
    attached->call_exception_handler(context);
  }
}

}  // namespace aio::process::internal
