#include "process/fast_child_watcher.h"

#include <sys/wait.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/logging.h"
#include "process/child_status.h"

namespace aio::process {
namespace {

// True if `pid` is no (running or zombie) child of this process any more.
bool not_our_child(pid_t pid) {
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  return rc < 0 && errno == ECHILD;
}

}  // namespace

void FastChildWatcher::add_child_handler(pid_t pid, ChildCallback callback) {
  internal::check_pid(pid);
  int returncode;
  bool unknown = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (forks_ == 0) throw RuntimeError("Must use the context manager");
    check_attached();
    auto zombie = zombies_.find(pid);
    if (zombie != zombies_.end()) {
      returncode = zombie->second;
      zombies_.erase(zombie);
    } else if (not_our_child(pid)) {
      returncode = internal::kUnknownChildReturncode;
      unknown = true;
    } else {
      callbacks_[pid] = std::move(callback);  // still running
      return;
    }
    callbacks_.erase(pid);  // a replaced registration of the same pid is over too
  }
  if (unknown) internal::warn_unknown_child(pid);  // logged without mutex_ held
  callback(pid, returncode);                       // dead already
}

bool FastChildWatcher::remove_child_handler(pid_t pid) {
  std::lock_guard<std::mutex> lock(mutex_);
  return SigchldChildWatcher::remove_child_handler(pid);
}

void FastChildWatcher::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    callbacks_.clear();
    zombies_.clear();
  }
  SigchldChildWatcher::close();
}

void FastChildWatcher::enter() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++forks_;
}

void FastChildWatcher::exit() {
  std::string victims;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --forks_;
    if (forks_ > 0 || zombies_.empty()) return;
    for (const auto& [pid, returncode] : zombies_) {
      absl::StrAppend(&victims, victims.empty() ? "{" : ", ", pid, ": ", returncode);
    }
    victims += "}";
    zombies_.clear();
  }
  log(LogLevel::kWarning, "Caught subprocess termination from unknown pids: " + victims);
}

void FastChildWatcher::do_waitpid_all() {
  EventLoop* attached = loop();
  bool debug = attached != nullptr && attached->get_debug();
  while (true) {
    int status = 0;
    pid_t pid = internal::waitpid_retrying(-1, &status, WNOHANG);
    if (pid <= 0) return;  // 0: children still running; -1 (ECHILD): no children at all
    int returncode = internal::returncode_from_status(status);
    ChildCallback callback;
    bool remembered = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = callbacks_.find(pid);
      if (it != callbacks_.end()) {
        callback = std::move(it->second);
        callbacks_.erase(it);
      } else if (forks_ > 0) {
        zombies_[pid] = returncode;  // it may not be registered yet
        remembered = true;
      }
    }
    if (remembered) {
      if (debug) {
        log(LogLevel::kDebug,
            absl::StrCat("unknown process ", pid, " exited with returncode ", returncode));
      }
      continue;
    }
    if (!callback) {
      log(LogLevel::kWarning, absl::StrCat("Caught subprocess termination from unknown pid: ", pid,
                                           " -> ", returncode));
      continue;
    }
    if (attached != nullptr) internal::debug_exited(*attached, pid, returncode);
    callback(pid, returncode);
  }
}

}  // namespace aio::process
