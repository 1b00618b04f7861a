// What a child gets: asyncio's subprocess_exec / subprocess_shell keyword arguments (those of
// subprocess.Popen that asyncio accepts), as one options struct, like //net's ConnectionOptions.
#ifndef AIO_PROCESS_SUBPROCESS_OPTIONS_H_
#define AIO_PROCESS_SUBPROCESS_OPTIONS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aio {

// asyncio.subprocess's constants, with subprocess.PIPE's values; any value >= 0 is an fd the
// child gets as that stream (the caller keeps it: the child gets a copy).
namespace subprocess {
inline constexpr int PIPE = -1;     // a pipe to the loop (the default for all three)
inline constexpr int STDOUT = -2;   // stderr only: the same as stdout
inline constexpr int DEVNULL = -3;  // /dev/null
inline constexpr int INHERIT = -4;  // Python's None: the parent's own stream
}  // namespace subprocess

struct SubprocessOptions {
  int stdin = subprocess::PIPE;
  int stdout = subprocess::PIPE;
  int stderr = subprocess::PIPE;
  // The child's whole environment (unset: the parent's).
  std::optional<std::map<std::string, std::string>> env;
  // The child's working directory (unset: the parent's).
  std::optional<std::string> cwd;
  // The file to run instead of the program (the program name stays argv[0]). Without a slash it
  // is looked up in PATH (env's PATH when env is given).
  std::optional<std::string> executable;
  // Fds the child keeps at the same number (implies close_fds).
  std::vector<int> pass_fds;
  // Close every fd but 0, 1, 2 and pass_fds in the child (aio's own fds are CLOEXEC anyway).
  bool close_fds = true;
  // setsid() in the child.
  bool start_new_session = false;
  // Every signal disposition back to SIG_DFL in the child (SIGPIPE, SIGHUP... even when the
  // parent ignores them). False: signals the parent ignores stay ignored. The signal mask is
  // always emptied.
  bool restore_signals = true;
  // Runs in the child after fork, before exec (Popen's preexec_fn). Only async-signal-safe work
  // belongs here. If it throws, the spawn fails with SubprocessError and no child is left.
  std::function<void()> preexec_fn;
  // umask(2) in the child; -1 leaves it.
  int umask = -1;
  // setgid / setuid in the child (needs the privilege to do so: PermissionError otherwise).
  std::optional<gid_t> group;
  std::optional<uid_t> user;

  // Accepted only with asyncio's values, for the same ValueErrors asyncio raises: asyncio pipes
  // are bytes only and unbuffered, and the function decides the shell.
  bool universal_newlines = false;
  bool text = false;
  std::optional<std::string> encoding;
  std::optional<std::string> errors;
  int bufsize = 0;
  std::optional<bool> shell;
};

}  // namespace aio

#endif  // AIO_PROCESS_SUBPROCESS_OPTIONS_H_
