#include "process/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loop/errors.h"
#include "process/subprocess_error.h"

extern char** environ;

namespace aio::process::internal {
namespace {

using subprocess::DEVNULL;
using subprocess::INHERIT;
using subprocess::PIPE;
using subprocess::STDOUT;

// A file descriptor closed on scope exit unless released.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd = std::exchange(o.fd, -1);
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int release() { return std::exchange(fd, -1); }
};

std::pair<Fd, Fd> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno();
  return {Fd(fds[0]), Fd(fds[1])};
}

// A CLOEXEC copy of `fd` numbered 3 or more, so that the child's dup2 onto 0, 1, 2 cannot
// overwrite a source it still needs.
Fd high_copy(int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throw_errno();
  return Fd(copy);
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

// What the child's fds 0, 1, 2 become: a source fd, or -1 to keep the parent's.
struct StdioPlan {
  int source[3] = {-1, -1, -1};
  bool stderr_to_stdout = false;
  Fd owned[3];      // pipes' child ends, /dev/null, high copies: closed in the parent after
  Fd loop_ends[3];  // the loop's ends of the pipes
};

void plan_stream(StdioPlan& plan, int index, int value, Fd& devnull) {
  if (value == PIPE) {
    auto [read_end, write_end] = make_pipe();
    if (index == 0) {
      plan.owned[0] = std::move(read_end);
      plan.loop_ends[0] = std::move(write_end);
    } else {
      plan.owned[index] = std::move(write_end);
      plan.loop_ends[index] = std::move(read_end);
    }
    if (plan.owned[index].fd < 3) plan.owned[index] = high_copy(plan.owned[index].fd);
    if (plan.loop_ends[index].fd < 3) plan.loop_ends[index] = high_copy(plan.loop_ends[index].fd);
    plan.source[index] = plan.owned[index].fd;
  } else if (value == DEVNULL) {
    if (devnull.fd < 0) {
      devnull = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
      if (devnull.fd < 0) throw_errno("'/dev/null'");
      if (devnull.fd < 3) devnull = high_copy(devnull.fd);
    }
    plan.source[index] = devnull.fd;
  } else if (value == INHERIT) {
    plan.source[index] = -1;
  } else if (value == STDOUT) {
    if (index != 2) throw ValueError("STDOUT can only be used for stderr");
    plan.stderr_to_stdout = true;
  } else if (value >= 0) {
    if (::fcntl(value, F_GETFD) < 0) throw_errno();
    if (value < 3 && value != index) {
      plan.owned[index] = high_copy(value);
      plan.source[index] = plan.owned[index].fd;
    } else {
      plan.source[index] = value;
    }
  } else {
    throw ValueError("invalid value " + std::to_string(value) + " for stdio " +
                     std::to_string(index));
  }
}

std::vector<std::string> path_dirs(const SubprocessOptions& options) {
  std::optional<std::string> path;
  if (options.env) {
    auto it = options.env->find("PATH");
    if (it != options.env->end()) path = it->second;
  } else if (const char* value = std::getenv("PATH")) {
    path = value;
  }
  if (!path) path = "/bin:/usr/bin";  // os.defpath
  std::vector<std::string> dirs;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = path->find(':', start);
    std::string dir = path->substr(start, colon - start);
    dirs.push_back(dir.empty() ? "." : dir);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return dirs;
}

// The file exec runs: `name` itself if it has a slash, else the first executable regular file
// of that name in PATH (execvpe's rule: EACCES only if nothing runnable was found but
// something was there). Errors carry the name, as CPython's FileNotFoundError does.
std::string resolve_program(const std::string& name, const SubprocessOptions& options) {
  if (name.find('/') != std::string::npos) return name;
  bool saw_denied = false;
  for (const std::string& dir : path_dirs(options)) {
    std::string candidate = dir + "/" + name;
    struct stat info;
    if (::stat(candidate.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    saw_denied = true;
  }
  throw_os_error(saw_denied ? EACCES : ENOENT, quoted(name));
}

std::vector<std::string> environment(const SubprocessOptions& options) {
  std::vector<std::string> env;
  if (options.env) {
    for (const auto& [key, value] : *options.env) {
      if (key.empty() || key.find('=') != std::string::npos) {
        throw ValueError("illegal environment variable name");
      }
      if (key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
        throw ValueError("embedded null byte");
      }
      env.push_back(key + "=" + value);
    }
  }
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// A failed spawn's error: which step failed decides which name the OSError carries.
[[noreturn]] void throw_spawn_error(int err, char step, const std::string& program,
                                    const SubprocessOptions& options) {
  switch (step) {
    case 'c':
      throw_os_error(err, quoted(options.cwd.value_or("")));
    case 'p':
      throw SubprocessError("Exception occurred in preexec_fn.");
    case 'e':
      throw_os_error(err, quoted(program));
    default:
      throw_os_error(err);
  }
}

pid_t spawn_with_posix_spawn(const std::string& path, char* const* argv, char* const* envp,
                             const StdioPlan& plan, const SubprocessOptions& options,
                             const std::string& program) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  struct Cleanup {
    posix_spawn_file_actions_t* actions;
    posix_spawnattr_t* attr;
    ~Cleanup() {
      posix_spawn_file_actions_destroy(actions);
      posix_spawnattr_destroy(attr);
    }
  } cleanup{&actions, &attr};

  short flags = POSIX_SPAWN_SETSIGMASK;
  sigset_t mask;
  sigemptyset(&mask);
  posix_spawnattr_setsigmask(&attr, &mask);
  if (options.restore_signals) {
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    flags |= POSIX_SPAWN_SETSIGDEF;
  }
  if (options.start_new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);

  for (int i = 0; i < 3; ++i) {
    // dup2(fd, fd) clears CLOEXEC (glibc >= 2.29), which an inherited fd needs.
    if (plan.source[i] >= 0) posix_spawn_file_actions_adddup2(&actions, plan.source[i], i);
    if (i == 2 && plan.stderr_to_stdout) posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  if (options.cwd) posix_spawn_file_actions_addchdir_np(&actions, options.cwd->c_str());
  if (options.close_fds) posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  pid_t pid = -1;
  int err = ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv, envp);
  if (err != 0) {
    // glibc has reaped the child already. chdir and exec both report ENOENT: tell them apart.
    bool cwd_failed = options.cwd && ::access(options.cwd->c_str(), X_OK) != 0;
    throw_spawn_error(err, cwd_failed ? 'c' : 'e', program, options);
  }
  return pid;
}

// What the forked child reports through the error pipe before it exits.
struct ChildFailure {
  char step;
  int err;
};

[[noreturn]] void child_fail(int pipe_fd, char step, int err) {
  ChildFailure failure{step, err};
  ssize_t ignored = ::write(pipe_fd, &failure, sizeof failure);
  (void)ignored;
  ::_exit(255);
}

// Runs in the forked child: only async-signal-safe calls, except the user's preexec_fn.
[[noreturn]] void child_exec(int error_pipe, const std::string& path, char* const* argv,
                             char* const* envp, const StdioPlan& plan,
                             const SubprocessOptions& options) {
  sigset_t mask;
  sigemptyset(&mask);
  ::sigprocmask(SIG_SETMASK, &mask, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction current;
    if (::sigaction(sig, nullptr, &current) != 0) continue;
    bool ignored = current.sa_handler == SIG_IGN;
    if (ignored && !options.restore_signals) continue;
    if (current.sa_handler != SIG_DFL) ::signal(sig, SIG_DFL);
  }
  for (int i = 0; i < 3; ++i) {
    int source = plan.source[i];
    if (source == i) {
      if (::fcntl(i, F_SETFD, 0) != 0) child_fail(error_pipe, 'd', errno);
    } else if (source >= 0 && ::dup2(source, i) < 0) {
      child_fail(error_pipe, 'd', errno);
    }
    if (i == 2 && plan.stderr_to_stdout && ::dup2(1, 2) < 0) child_fail(error_pipe, 'd', errno);
  }
  if (options.cwd && ::chdir(options.cwd->c_str()) != 0) child_fail(error_pipe, 'c', errno);
  if (options.umask >= 0) ::umask(static_cast<mode_t>(options.umask));
  if (options.start_new_session && ::setsid() < 0) child_fail(error_pipe, 's', errno);
  if (options.group) {
    if (::setgroups(0, nullptr) != 0 && errno != EPERM) child_fail(error_pipe, 'g', errno);
    if (::setregid(*options.group, *options.group) != 0) child_fail(error_pipe, 'g', errno);
  }
  if (options.user && ::setreuid(*options.user, *options.user) != 0) {
    child_fail(error_pipe, 'u', errno);
  }
  if (options.preexec_fn) {
    try {
      options.preexec_fn();
    } catch (...) {
      child_fail(error_pipe, 'p', 0);
    }
  }
  bool close_fds = options.close_fds || !options.pass_fds.empty();
  if (close_fds) {
    // Everything from 3 up closes at exec; then the fds to pass lose their CLOEXEC.
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      child_fail(error_pipe, 'd', errno);
    }
  }
  for (int fd : options.pass_fds) {
    if (fd > 2 && fd != error_pipe && ::fcntl(fd, F_SETFD, 0) != 0) {
      child_fail(error_pipe, 'd', errno);
    }
  }
  ::execve(path.c_str(), argv, envp);
  child_fail(error_pipe, 'e', errno);
}

pid_t spawn_with_fork(const std::string& path, char* const* argv, char* const* envp,
                      const StdioPlan& plan, const SubprocessOptions& options,
                      const std::string& program) {
  auto [report_read, report_write] = make_pipe();
  if (report_write.fd < 3) report_write = high_copy(report_write.fd);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno();
  if (pid == 0) child_exec(report_write.fd, path, argv, envp, plan, options);
  report_write.reset();
  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(report_read.fd, &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return pid;  // the pipe closed at exec: the program runs
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof failure)) throw SubprocessError("Bad exception data");
  throw_spawn_error(failure.err, failure.step, program, options);
}

}  // namespace

SpawnedChild spawn(const std::vector<std::string>& argv, const SubprocessOptions& options) {
  if (argv.empty() || argv[0].empty()) throw ValueError("program must not be empty");
  for (const std::string& arg : argv) {
    if (arg.find('\0') != std::string::npos) throw ValueError("embedded null byte");
  }
  for (int fd : options.pass_fds) {
    if (fd < 0) throw ValueError("bad value(s) in fds_to_keep");
  }
  std::string program = options.executable.value_or(argv[0]);
  if (program.empty()) throw ValueError("executable must not be empty");
  std::string path = resolve_program(program, options);

  StdioPlan plan;
  Fd devnull;
  plan_stream(plan, 0, options.stdin, devnull);
  plan_stream(plan, 1, options.stdout, devnull);
  plan_stream(plan, 2, options.stderr, devnull);

  std::vector<std::string> args = argv;
  std::vector<char*> arg_pointers = pointers(args);
  std::vector<std::string> env = environment(options);
  std::vector<char*> env_pointers;
  char* const* envp = environ;
  if (options.env) {
    env_pointers = pointers(env);
    envp = env_pointers.data();
  }

  bool needs_fork = options.preexec_fn || options.umask >= 0 || options.user || options.group ||
                    !options.pass_fds.empty();
  SpawnedChild child;
  child.pid = needs_fork
                  ? spawn_with_fork(path, arg_pointers.data(), envp, plan, options, program)
                  : spawn_with_posix_spawn(path, arg_pointers.data(), envp, plan, options, program);
  child.stdin_pipe = File(plan.loop_ends[0].release());
  child.stdout_pipe = File(plan.loop_ends[1].release());
  child.stderr_pipe = File(plan.loop_ends[2].release());
  return child;
}

}  // namespace aio::process::internal
