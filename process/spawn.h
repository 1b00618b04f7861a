// Starting a child (internal to //process): argv, options -> a running pid and the loop's ends
// of its pipes. posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), exec errors come back as the
// return value) when the options allow it; fork + exec with an error pipe (as CPython's
// _posixsubprocess) for preexec_fn, umask, user/group and pass_fds, which posix_spawn cannot do.
#ifndef AIO_PROCESS_SPAWN_H_
#define AIO_PROCESS_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "net/file.h"
#include "process/subprocess_options.h"

namespace aio::process::internal {

struct SpawnedChild {
  pid_t pid = -1;
  // The loop's ends of the PIPE streams (closed Files for the others). Every fd is CLOEXEC.
  File stdin_pipe;   // write end
  File stdout_pipe;  // read end
  File stderr_pipe;  // read end
};

// ValueError for an invalid stdio value; OSError with the errno of what failed (exec, chdir,
// setuid...), or SubprocessError when preexec_fn threw. On failure no child and no fd is left.
SpawnedChild spawn(const std::vector<std::string>& argv, const SubprocessOptions& options);

}  // namespace aio::process::internal

#endif  // AIO_PROCESS_SPAWN_H_
