#include "process/child_status.h"

#include <sys/wait.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/logging.h"

namespace aio::process::internal {

int returncode_from_status(int status) {
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return status;
}

void check_pid(pid_t pid) {
  if (pid <= 0) throw ValueError(absl::StrCat("pid must be positive, got ", pid));
}

void warn_unknown_child(pid_t pid) {
  log(LogLevel::kWarning,
      absl::StrCat("Unknown child process pid ", pid, ", will report returncode 255"));
}

void warn_loop_closed(const void* loop, pid_t pid) {
  log(LogLevel::kWarning,
      absl::StrFormat("Loop <aio.EventLoop at %p> that handles pid %d is closed", loop, pid));
}

void debug_exited(const EventLoop& loop, pid_t pid, int returncode) {
  if (!loop.get_debug()) return;
  log(LogLevel::kDebug, absl::StrCat("process ", pid, " exited with returncode ", returncode));
}

pid_t waitpid_retrying(pid_t pid, int* status, int flags) {
  pid_t result;
  do {
    result = ::waitpid(pid, status, flags);
  } while (result < 0 && errno == EINTR);
  return result;
}

}  // namespace aio::process::internal
