// What every child watcher shares: turning a wait status into asyncio's returncode, and the
// warnings CPython 3.8's watchers log (unix_events.py), written once so their text agrees.
#ifndef AIO_PROCESS_CHILD_STATUS_H_
#define AIO_PROCESS_CHILD_STATUS_H_

#include <sys/types.h>

namespace aio {
class EventLoop;
}  // namespace aio

namespace aio::process::internal {

// asyncio's _compute_returncode: -N if signal N killed the child, the exit status if it exited,
// else the raw status (a stopped child never reaches here: nobody waits with WUNTRACED).
int returncode_from_status(int status);

// The returncode reported for a child someone else reaped (waitpid said ECHILD).
inline constexpr int kUnknownChildReturncode = 255;

// ValueError("pid must be positive, got N") for pid <= 0 (CPython asserts expected_pid > 0;
// waitpid(0 or -N) would wait for a whole process group instead).
void check_pid(pid_t pid);

// WARNING "Unknown child process pid N, will report returncode 255".
void warn_unknown_child(pid_t pid);
// WARNING "Loop <aio.EventLoop at 0x...> that handles pid N is closed".
void warn_loop_closed(const void* loop, pid_t pid);
// DEBUG "process N exited with returncode R", logged only in the loop's debug mode.
void debug_exited(const EventLoop& loop, pid_t pid, int returncode);

// waitpid(pid, flags) retrying EINTR: the pid, 0 (WNOHANG: still running), or -1 with errno.
pid_t waitpid_retrying(pid_t pid, int* status, int flags);

}  // namespace aio::process::internal

#endif  // AIO_PROCESS_CHILD_STATUS_H_
