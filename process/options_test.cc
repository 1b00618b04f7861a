// Every SubprocessOptions field, checked from inside the child (the test child reports its fds,
// signals, umask, session, ids, environment), on both spawn paths (posix_spawn, and fork+exec
// for preexec_fn / umask / user / group / pass_fds).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <any>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/errors.h"
#include "process/process.h"
#include "process/subprocess_error.h"
#include "process/test_util.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using process::testing::child_path;
using process::testing::run;

struct Result {
  std::string out;
  std::string err;
  int code = -1000;
};

Result child(EventLoop& loop, std::vector<std::string> args, SubprocessOptions options = {},
             std::optional<std::string> input = std::nullopt) {
  return run(loop, [&]() -> Coro<Result> {
    Process proc = co_await create_subprocess_exec(child_path(), args, options);
    auto [out, err] = co_await proc.communicate(input);
    co_return Result{out, err, *proc.returncode()};
  }());
}

Result shell(EventLoop& loop, std::string cmd, SubprocessOptions options = {}) {
  return run(loop, [&]() -> Coro<Result> {
    Process proc = co_await create_subprocess_shell(cmd, options);
    auto [out, err] = co_await proc.communicate();
    co_return Result{out, err, *proc.returncode()};
  }());
}

std::string fd_target(int fd) {
  char buffer[4096];
  ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
}

std::set<int> fd_set(const std::string& listing) {
  std::set<int> fds;
  std::stringstream stream(listing);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty() && item != "\n") fds.insert(std::stoi(item));
  }
  return fds;
}

struct TempFile {
  std::string path = "/tmp/aio-options-" + std::to_string(::getpid()) + "-" +
                     std::to_string(reinterpret_cast<std::uintptr_t>(this));
  ~TempFile() { ::unlink(path.c_str()); }
};

TEST(OptionsTest, StdinAndStdoutFromFds) {
  EventLoop loop;
  TempFile in, out;
  std::ofstream(in.path) << std::string(123, 'z');
  int in_fd = ::open(in.path.c_str(), O_RDONLY | O_CLOEXEC);
  int out_fd = ::open(out.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  Result counted = child(loop, {"count"}, {.stdin = in_fd});
  Result written = child(loop, {"write", "10"}, {.stdout = out_fd});
  EXPECT_EQ(counted.out, "123\n");
  EXPECT_EQ(written.out, "") << "stdout went to the file";
  std::ifstream file(out.path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(file), {}), "abcdefghij");
  // The caller's fds stay the caller's.
  EXPECT_GE(::fcntl(in_fd, F_GETFD), 0);
  EXPECT_GE(::fcntl(out_fd, F_GETFD), 0);
  ::close(in_fd);
  ::close(out_fd);
  EXPECT_THROW(child(loop, {"exit", "0"}, {.stdin = 999}), OSError) << "a closed fd: EBADF";
}

TEST(OptionsTest, DevnullAndInherit) {
  EventLoop loop;
  Result devnull = shell(loop, "readlink /proc/self/fd/0", {.stdin = subprocess::DEVNULL});
  EXPECT_EQ(devnull.out, "/dev/null\n");
  Result inherit = shell(loop, "readlink /proc/self/fd/2 >&1",
                         {.stdin = subprocess::DEVNULL, .stderr = subprocess::INHERIT});
  EXPECT_EQ(inherit.out, fd_target(2) + "\n");
  Result count = child(loop, {"count"}, {.stdin = subprocess::DEVNULL});
  EXPECT_EQ(count.out, "0\n");
}

TEST(OptionsTest, Environment) {
  EventLoop loop;
  std::map<std::string, std::string> env = {{"AIO_X", "1"}};
  EXPECT_EQ(child(loop, {"env", "AIO_X"}, {.env = env}).out, "1\n");
  EXPECT_EQ(child(loop, {"env", "HOME"}, {.env = env}).out, "<unset>\n") << "the whole env";
  ::setenv("AIO_INHERITED", "yes", 1);
  EXPECT_EQ(child(loop, {"env", "AIO_INHERITED"}).out, "yes\n");
  ::unsetenv("AIO_INHERITED");
  // The program is looked up in the child's PATH.
  EXPECT_THROW(run(loop, create_subprocess_exec("cat", {}, {.env = {{{"PATH", "/nonexistent"}}}})),
               FileNotFoundError);
  Result cat = run(loop, [&]() -> Coro<Result> {
    Process proc = co_await create_subprocess_exec("cat", {}, {.env = {{{"PATH", "/usr/bin"}}}});
    auto [out, err] = co_await proc.communicate("via /usr/bin");
    co_return Result{out, err, *proc.returncode()};
  }());
  EXPECT_EQ(cat.out, "via /usr/bin");
  EXPECT_THROW(child(loop, {"exit", "0"}, {.env = {{{"A=B", "1"}}}}), ValueError);
}

TEST(OptionsTest, CwdAndExecutable) {
  EventLoop loop;
  EXPECT_EQ(shell(loop, "pwd", {.cwd = std::string("/tmp")}).out, "/tmp\n");
  Result renamed = run(loop, [&]() -> Coro<Result> {
    Process proc =
        co_await create_subprocess_exec("a-fake-name", {"argv0"}, {.executable = child_path()});
    auto [out, err] = co_await proc.communicate();
    co_return Result{out, err, *proc.returncode()};
  }());
  EXPECT_EQ(renamed.out, "a-fake-name\n");
}

TEST(OptionsTest, FdsAreNotInheritedUnlessPassed) {
  EventLoop loop;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  int plain = ::fcntl(pipe_fds[1], F_DUPFD, 10);  // no CLOEXEC: only close_fds stops it
  std::set<int> by_default = fd_set(child(loop, {"fds"}).out);
  std::set<int> kept = fd_set(child(loop, {"fds"}, {.close_fds = false}).out);
  std::set<int> passed = fd_set(child(loop, {"fds"}, {.pass_fds = {pipe_fds[1]}}).out);
  EXPECT_EQ(by_default.count(plain), 0u);
  EXPECT_EQ(by_default.count(pipe_fds[1]), 0u);
  EXPECT_EQ(kept.count(plain), 1u) << "close_fds=false keeps non-CLOEXEC fds";
  EXPECT_EQ(kept.count(pipe_fds[1]), 0u) << "CLOEXEC fds never reach the child";
  EXPECT_EQ(passed.count(pipe_fds[1]), 1u) << "pass_fds keeps the fd at its number";
  EXPECT_EQ(passed.count(plain), 0u) << "pass_fds implies close_fds";
  ::close(plain);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST(OptionsTest, TheStdinPipesWriteEndNeverReachesTheChild) {
  EventLoop loop;
  run(loop, []() -> Coro<void> {
    Process proc = co_await create_subprocess_exec(child_path(), {"fds"}, {.close_fds = false});
    int ours = std::any_cast<int>(proc.stdin->get_extra_info("pipe"));
    auto [out, err] = co_await proc.communicate();
    EXPECT_EQ(fd_set(out).count(ours), 0u) << out;
    // Nor any other of the loop's own fds (epoll, wakeup, the other pipes' ends): all CLOEXEC.
    for (int fd : fd_set(out)) {
      EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) << "fd " << fd << " is CLOEXEC here";
    }
  }());
}

TEST(OptionsTest, NewSession) {
  EventLoop loop;
  EXPECT_EQ(child(loop, {"session"}).out, "member\n");
  EXPECT_EQ(child(loop, {"session"}, {.start_new_session = true}).out, "leader\n");
  EXPECT_EQ(child(loop, {"session"}, {.start_new_session = true, .umask = 022}).out, "leader\n")
      << "the fork path";
}

// The parent ignores SIGHUP and SIGUSR1 and blocks SIGUSR2 during the test (aio already ignores
// SIGPIPE once a write pipe exists).
class SignalState : public ::testing::Test {
 protected:
  void SetUp() override {
    old_hup_ = ::signal(SIGHUP, SIG_IGN);
    old_usr1_ = ::signal(SIGUSR1, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    ::pthread_sigmask(SIG_BLOCK, &block, &old_mask_);
  }
  void TearDown() override {
    ::signal(SIGHUP, old_hup_);
    ::signal(SIGUSR1, old_usr1_);
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  sighandler_t old_hup_, old_usr1_;
  sigset_t old_mask_;
};

std::string ignored_list(std::vector<int> sigs) {
  std::sort(sigs.begin(), sigs.end());
  std::string text;
  for (int sig : sigs) text += (text.empty() ? "" : ",") + std::to_string(sig);
  return text;
}

TEST_F(SignalState, RestoreSignalsResetsEveryDispositionAndTheMaskIsAlwaysEmpty) {
  EventLoop loop;
  EXPECT_EQ(child(loop, {"signals"}).out, "mask= ignored=\n");
  EXPECT_EQ(child(loop, {"signals"}, {.umask = 022}).out, "mask= ignored=\n") << "fork path";
  std::string kept = "mask= ignored=" + ignored_list({SIGHUP, SIGUSR1, SIGPIPE}) + "\n";
  EXPECT_EQ(child(loop, {"signals"}, {.restore_signals = false}).out, kept);
  EXPECT_EQ(child(loop, {"signals"}, {.restore_signals = false, .umask = 022}).out, kept);
}

TEST(OptionsTest, PreexecFnRunsInTheChild) {
  EventLoop loop;
  Result result = child(loop, {"signals"}, {.preexec_fn = [] { ::signal(SIGUSR1, SIG_IGN); }});
  EXPECT_EQ(result.out, "mask= ignored=" + std::to_string(SIGUSR1) + "\n");
  EXPECT_EQ(::signal(SIGUSR1, SIG_DFL), SIG_DFL) << "not in the parent";
}

TEST(OptionsTest, AFailingPreexecFnIsTheCallersErrorAndLeavesNothing) {
  EventLoop loop;
  try {
    child(loop, {"exit", "0"}, {.preexec_fn = [] { throw std::runtime_error("no"); }});
    ADD_FAILURE() << "no error";
  } catch (const SubprocessError& error) {
    EXPECT_STREQ(error.what(), "Exception occurred in preexec_fn.");
  }
  // The listeners check: no child left, no fd left.
}

TEST(OptionsTest, Umask) {
  EventLoop loop;
  EXPECT_EQ(child(loop, {"umask"}, {.umask = 027}).out, "027\n");
  EXPECT_EQ(child(loop, {"umask"}, {.umask = 0}).out, "000\n");
}

TEST(OptionsTest, SpawnErrorsThroughTheForkPathKeepErrno) {
  EventLoop loop;
  try {
    child(loop, {"exit", "0"}, {.cwd = std::string("/nonexistent-aio"), .umask = 022});
    ADD_FAILURE() << "no error";
  } catch (const FileNotFoundError& error) {
    EXPECT_EQ(error.err(), ENOENT);
    EXPECT_STREQ(error.what(), "[Errno 2] No such file or directory: '/nonexistent-aio'");
  }
  try {
    run(loop, create_subprocess_exec("/tmp", {}, {.umask = 022}));
    ADD_FAILURE() << "no error";
  } catch (const PermissionError& error) {
    EXPECT_EQ(error.err(), EACCES);
    EXPECT_STREQ(error.what(), "[Errno 13] Permission denied: '/tmp'");
  }
}

// Whether `id` is mapped in this user namespace (Bazel's sandbox maps root only).
bool id_mapped(const char* map_file, unsigned id) {
  std::ifstream map(map_file);
  unsigned inside, outside, count;
  while (map >> inside >> outside >> count) {
    if (id >= inside && id - inside < count) return true;
  }
  return false;
}

TEST(OptionsTest, UserAndGroup) {
  EventLoop loop;
  std::string same = "uid=" + std::to_string(::getuid()) + " gid=" + std::to_string(::getgid());
  EXPECT_EQ(child(loop, {"ids"}, {.group = ::getgid(), .user = ::getuid()}).out, same + "\n");
  if (::geteuid() != 0) {
    try {
      child(loop, {"ids"}, {.user = 0});
      ADD_FAILURE() << "no error";
    } catch (const PermissionError& error) {
      EXPECT_EQ(error.err(), EPERM);
    }
  } else if (!id_mapped("/proc/self/uid_map", 65534) || !id_mapped("/proc/self/gid_map", 65534)) {
    // setuid to an unmapped id is EINVAL: the errno still reaches the caller.
    try {
      child(loop, {"ids"}, {.group = 65534, .user = 65534});
      ADD_FAILURE() << "no error";
    } catch (const OSError& error) {
      EXPECT_EQ(error.err(), EINVAL);
    }
  } else {
    // A shell from /bin: the test child's own path is under /root, which nobody may enter.
    EXPECT_EQ(shell(loop, "echo uid=$(id -u) gid=$(id -g)",
                    {.cwd = std::string("/"), .group = 65534, .user = 65534})
                  .out,
              "uid=65534 gid=65534\n");
  }
}

}  // namespace
}  // namespace aio
