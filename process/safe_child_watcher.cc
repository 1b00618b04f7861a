#include "process/safe_child_watcher.h"

#include <sys/wait.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loop/event_loop.h"
#include "loop/logging.h"
#include "process/child_status.h"

namespace aio::process {

void SafeChildWatcher::add_child_handler(pid_t pid, ChildCallback callback) {
  internal::check_pid(pid);
  check_attached();
  callbacks_[pid] = std::move(callback);
  do_waitpid(pid);  // the child may have exited already
}

void SafeChildWatcher::close() {
  callbacks_.clear();
  SigchldChildWatcher::close();
}

void SafeChildWatcher::do_waitpid_all() {
  std::vector<pid_t> pids;
  pids.reserve(callbacks_.size());
  for (const auto& [pid, callback] : callbacks_) pids.push_back(pid);
  for (pid_t pid : pids) do_waitpid(pid);
}

void SafeChildWatcher::do_waitpid(pid_t expected) {
  int status = 0;
  pid_t pid = internal::waitpid_retrying(expected, &status, WNOHANG);
  int returncode;
  if (pid < 0) {  // ECHILD: someone else reaped it
    pid = expected;
    returncode = internal::kUnknownChildReturncode;
    internal::warn_unknown_child(pid);
  } else if (pid == 0) {
    return;  // still running
  } else {
    returncode = internal::returncode_from_status(status);
    if (EventLoop* attached = loop()) internal::debug_exited(*attached, pid, returncode);
  }
  auto it = callbacks_.find(pid);
  if (it == callbacks_.end()) {
    // A callback removed (by an earlier callback of this round) after the pid was listed.
    if (EventLoop* attached = loop(); attached != nullptr && attached->get_debug()) {
      log(LogLevel::kWarning, absl::StrCat("Child watcher got an unexpected pid: ", pid));
    }
    return;
  }
  ChildCallback callback = std::move(it->second);
  callbacks_.erase(it);
  callback(pid, returncode);
}

}  // namespace aio::process
