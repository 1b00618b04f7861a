// subprocess_exec / subprocess_shell with a SubprocessProtocol: exit codes, the order rules,
// the transport's methods, pipes closing early in both directions, spawn errors, cancellation.
// Every test also checks (linked listeners) that no fd and no child is left behind.
#include "process/subprocess.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "net/transports.h"
#include "process/child_watcher.h"
#include "process/pidfd_child_watcher.h"
#include "process/test_util.h"
#include "process/watcher_policy.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using aio::testing::error_message;
using aio::testing::run_until;
using process::testing::child_path;
using process::testing::run;
using process::testing::SubprocessRecorder;

using Recorded = SubprocessConnection<SubprocessRecorder>;

Recorded start(EventLoop& loop, std::vector<std::string> args, SubprocessOptions options = {}) {
  return run(loop, subprocess_exec<SubprocessRecorder>(
                       loop, [] { return std::make_shared<SubprocessRecorder>(); }, child_path(),
                       std::move(args), std::move(options)));
}

void run_until_lost(EventLoop& loop, const Recorded& made) {
  ASSERT_TRUE(run_until(loop, [&] { return made.second->lost; }, 20.0)) << made.second->trace();
}

std::string pattern(std::size_t size) {
  std::string text(size, 'a');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + i % 26);
  return text;
}

TEST(SubprocessExecTest, OutputExitCodeAndTheOrderRules) {
  EventLoop loop;
  Recorded made = start(loop, {"write", "5"});
  auto& [transport, protocol] = made;
  ASSERT_FALSE(protocol->events.empty());
  EXPECT_EQ(protocol->events.front(), "made") << "connection_made runs before it returns";
  EXPECT_GT(transport->get_pid(), 0);
  run_until_lost(loop, made);
  EXPECT_EQ(protocol->output[1], "abcde");
  EXPECT_EQ(protocol->output[2], "");
  EXPECT_EQ(transport->get_returncode(), 0);
  EXPECT_EQ(protocol->returncode_at_exit, 0) << "the return code is set when process_exited runs";
  EXPECT_EQ(protocol->events.front(), "made");
  EXPECT_EQ(protocol->events.back(), "lost");
  for (int fd = 0; fd < 3; ++fd) EXPECT_EQ(protocol->pipe_error[fd], nullptr) << fd;
  // The recorder checked the rest: data before its fd's end, connection_lost last and once.
}

TEST(SubprocessExecTest, ExitStatusAndDeathBySignal) {
  EventLoop loop;
  Recorded exit3 = start(loop, {"exit", "3"});
  Recorded killed = start(loop, {"kill", std::to_string(SIGKILL)});
  Recorded terminated = start(loop, {"kill", std::to_string(SIGTERM)});
  run_until_lost(loop, exit3);
  run_until_lost(loop, killed);
  run_until_lost(loop, terminated);
  EXPECT_EQ(exit3.first->get_returncode(), 3);
  EXPECT_EQ(killed.first->get_returncode(), -SIGKILL);
  EXPECT_EQ(terminated.first->get_returncode(), -SIGTERM);
}

TEST(SubprocessShellTest, RunsTheCommandWithBinSh) {
  EventLoop loop;
  Recorded made = run(loop, subprocess_shell<SubprocessRecorder>(
                                loop, [] { return std::make_shared<SubprocessRecorder>(); },
                                "echo hello; echo oops >&2; exit 7"));
  run_until_lost(loop, made);
  EXPECT_EQ(made.second->output[1], "hello\n");
  EXPECT_EQ(made.second->output[2], "oops\n");
  EXPECT_EQ(made.first->get_returncode(), 7);
}

TEST(SubprocessExecTest, RealProgramsFromPath) {
  EventLoop loop;
  auto factory = [] { return std::make_shared<SubprocessRecorder>(); };
  Recorded echo = run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, "echo", {"a", "b"}));
  Recorded pwd = run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, "pwd", {},
                                                               {.cwd = std::string("/")}));
  run_until_lost(loop, echo);
  run_until_lost(loop, pwd);
  EXPECT_EQ(echo.second->output[1], "a b\n");
  EXPECT_EQ(pwd.second->output[1], "/\n");
}

TEST(SubprocessExecTest, PipeTransportsMatchTheOptions) {
  EventLoop loop;
  Recorded piped = start(loop, {"exit", "0"});
  EXPECT_NE(dynamic_cast<WriteTransport*>(piped.first->get_pipe_transport(0)), nullptr);
  EXPECT_NE(dynamic_cast<ReadTransport*>(piped.first->get_pipe_transport(1)), nullptr);
  EXPECT_NE(dynamic_cast<ReadTransport*>(piped.first->get_pipe_transport(2)), nullptr);
  EXPECT_EQ(piped.first->get_pipe_transport(3), nullptr);
  EXPECT_EQ(piped.first->get_pipe_transport(-1), nullptr);
  Recorded none = start(
      loop, {"exit", "0"},
      {.stdin = subprocess::DEVNULL, .stdout = subprocess::DEVNULL, .stderr = subprocess::STDOUT});
  for (int fd = 0; fd < 3; ++fd) EXPECT_EQ(none.first->get_pipe_transport(fd), nullptr) << fd;
  run_until_lost(loop, piped);
  run_until_lost(loop, none);
  EXPECT_EQ(none.second->trace(), "made exited lost");
}

TEST(SubprocessExecTest, SignalsAndProcessLookupErrorOnceExited) {
  EventLoop loop;
  Recorded made = start(loop, {"sleep", "30"});
  made.first->terminate();
  run_until_lost(loop, made);
  EXPECT_EQ(made.first->get_returncode(), -SIGTERM);
  EXPECT_THROW(made.first->send_signal(SIGTERM), ProcessLookupError);
  EXPECT_THROW(made.first->kill(), ProcessLookupError);
  EXPECT_THROW(made.first->terminate(), ProcessLookupError);

  Recorded killed = start(loop, {"sleep", "30"});
  killed.first->send_signal(SIGKILL);
  run_until_lost(loop, killed);
  EXPECT_EQ(killed.first->get_returncode(), -SIGKILL);
}

TEST(SubprocessExecTest, CloseKillsARunningChild) {
  EventLoop loop;
  Recorded made = start(loop, {"sleep", "30"});
  made.first->close();
  EXPECT_TRUE(made.first->is_closing());
  run_until_lost(loop, made);
  EXPECT_EQ(made.first->get_returncode(), -SIGKILL);
}

// The child has exited (a zombie) but the loop has not seen it yet: close() must not kill it
// (and could not: its pid may be reused only after the reap).
bool is_zombie(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  std::size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

TEST(SubprocessExecTest, CloseNeverKillsAChildThatExited) {
  EventLoop loop;
  Recorded made = start(loop, {"sleep", "0.1"});
  for (int i = 0; i < 2000 && !is_zombie(made.first->get_pid()); ++i) ::usleep(1000);
  ASSERT_TRUE(is_zombie(made.first->get_pid()));
  made.first->close();
  run_until_lost(loop, made);
  EXPECT_EQ(made.first->get_returncode(), 0);
}

TEST(SubprocessExecTest, ClosingOurEndOfStdoutGivesTheChildSigpipeOrEpipe) {
  EventLoop loop;
  // restore_signals (the default): SIGPIPE is back to SIG_DFL in the child, so it dies of it
  // even though aio ignores SIGPIPE in the parent.
  Recorded dies = start(loop, {"write", "100000000"});
  run_until(loop, [&] { return !dies.second->output[1].empty(); });
  dies.first->get_pipe_transport(1)->close();
  run_until_lost(loop, dies);
  EXPECT_EQ(dies.first->get_returncode(), -SIGPIPE);
  // restore_signals=false: the child keeps the parent's SIG_IGN and sees write() fail with EPIPE
  // (its exit status 2).
  Recorded fails = start(loop, {"write", "100000000"}, {.restore_signals = false});
  run_until(loop, [&] { return !fails.second->output[1].empty(); });
  fails.first->get_pipe_transport(1)->close();
  run_until_lost(loop, fails);
  EXPECT_EQ(fails.first->get_returncode(), 2);
}

TEST(SubprocessExecTest, ChildExitingBeforeWeWriteOneMebibyte) {
  EventLoop loop;
  std::vector<std::string> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context.message); });
  Recorded made = start(loop, {"read_then_exit", "10"});
  auto* stdin_pipe = dynamic_cast<WriteTransport*>(made.first->get_pipe_transport(0));
  ASSERT_NE(stdin_pipe, nullptr);
  stdin_pipe->write(std::string(1 << 20, 'x'));
  EXPECT_GT(stdin_pipe->get_write_buffer_size(), 0u) << "a pipe does not take 1 MiB at once";
  run_until_lost(loop, made);
  EXPECT_EQ(made.first->get_returncode(), 0);
  ASSERT_NE(made.second->pipe_error[0], nullptr) << "unwritten data: the pipe broke";
  try {
    std::rethrow_exception(made.second->pipe_error[0]);
  } catch (const BrokenPipeError& error) {
    EXPECT_EQ(error.err(), EPIPE);
  } catch (...) {
    ADD_FAILURE() << "expected BrokenPipeError";
  }
  EXPECT_TRUE(reported.empty()) << "a broken pipe is not the exception handler's: "
                                << reported.front();
}

TEST(SubprocessExecTest, EverythingWrittenBeforeExitReachesASlowReader) {
  EventLoop loop;
  constexpr std::size_t kSize = 256 * 1024;
  Recorded made = start(loop, {"write", std::to_string(kSize)});
  auto* stdout_pipe = dynamic_cast<ReadTransport*>(made.first->get_pipe_transport(1));
  ASSERT_NE(stdout_pipe, nullptr);
  // Read slowly: pause after every piece, resume 2 ms later.
  made.second->on_data = [&](int fd) {
    if (fd != 1 || !stdout_pipe->is_reading()) return;
    stdout_pipe->pause_reading();
    loop.call_later(0.002, [&] { stdout_pipe->resume_reading(); });
  };
  run_until_lost(loop, made);
  EXPECT_EQ(made.first->get_returncode(), 0);
  EXPECT_EQ(made.second->output[1].size(), kSize);
  EXPECT_TRUE(made.second->output[1] == pattern(kSize)) << "bytes lost or reordered";
}

TEST(SubprocessExecTest, AsyncioValueErrors) {
  EventLoop loop;
  auto factory = [] { return std::make_shared<SubprocessRecorder>(); };
  auto exec_error = [&](SubprocessOptions options) {
    return error_message([&] {
      run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, child_path(), {"exit", "0"},
                                                    std::move(options)));
    });
  };
  auto shell_error = [&](SubprocessOptions options) {
    return error_message([&] {
      run(loop, subprocess_shell<SubprocessRecorder>(loop, factory, "exit 0", std::move(options)));
    });
  };
  EXPECT_EQ(exec_error({.universal_newlines = true}), "universal_newlines must be False");
  EXPECT_EQ(exec_error({.text = true}), "text must be False");
  EXPECT_EQ(exec_error({.encoding = std::string("utf-8")}), "encoding must be None");
  EXPECT_EQ(exec_error({.errors = std::string("strict")}), "errors must be None");
  EXPECT_EQ(exec_error({.bufsize = 1}), "bufsize must be 0");
  EXPECT_EQ(exec_error({.shell = true}), "shell must be False");
  EXPECT_EQ(shell_error({.shell = false}), "shell must be True");
  EXPECT_EQ(shell_error({.universal_newlines = true}), "universal_newlines must be False");
  EXPECT_EQ(shell_error({.bufsize = -1}), "bufsize must be 0");
  EXPECT_EQ(exec_error({.stdin = subprocess::STDOUT}), "STDOUT can only be used for stderr");
  EXPECT_EQ(exec_error({.stdout = -7}), "invalid value -7 for stdio 1");
  EXPECT_EQ(
      error_message([&] { run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, "", {})); }),
      "program must not be empty");
  EXPECT_THROW(run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, child_path(), {},
                                                             {.bufsize = 1})),
               ValueError);
}

TEST(SubprocessExecTest, SpawnErrorsKeepErrnoAndLeaveNothing) {
  EventLoop loop;
  auto factory = [] { return std::make_shared<SubprocessRecorder>(); };
  try {
    run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, "aio-no-such-program", {}));
    ADD_FAILURE() << "no error";
  } catch (const FileNotFoundError& error) {
    EXPECT_EQ(error.err(), ENOENT);
    EXPECT_STREQ(error.what(), "[Errno 2] No such file or directory: 'aio-no-such-program'");
  }
  try {
    run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, "/nonexistent/dir/prog", {}));
    ADD_FAILURE() << "no error";
  } catch (const FileNotFoundError& error) {
    EXPECT_EQ(error.err(), ENOENT);
  }
  // A file that is there but not executable.
  std::string path = "/tmp/aio-process-noexec-" + std::to_string(::getpid());
  std::ofstream(path) << "#!/bin/sh\n";
  ::chmod(path.c_str(), 0644);
  if (::geteuid() != 0) {
    EXPECT_THROW(run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, path, {})),
                 PermissionError);
  } else {
    // root may read it, but exec still needs an x bit.
    try {
      run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, path, {}));
      ADD_FAILURE() << "no error";
    } catch (const PermissionError& error) {
      EXPECT_EQ(error.err(), EACCES);
    }
  }
  ::unlink(path.c_str());
  // A directory as cwd that is not there: the error names the directory.
  try {
    run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, child_path(), {"exit", "0"},
                                                  {.cwd = std::string("/nonexistent-aio-dir")}));
    ADD_FAILURE() << "no error";
  } catch (const FileNotFoundError& error) {
    EXPECT_STREQ(error.what(), "[Errno 2] No such file or directory: '/nonexistent-aio-dir'");
  }
}

class InactiveWatcher final : public process::AbstractChildWatcher {
 public:
  void add_child_handler(pid_t, process::ChildCallback) override { ++added; }
  bool remove_child_handler(pid_t) override { return false; }
  void attach_loop(EventLoop*) override {}
  void close() override {}
  bool is_active() const override { return false; }
  int added = 0;
};

TEST(SubprocessExecTest, AnInactiveWatcherFailsBeforeSpawning) {
  EventLoop loop;
  auto inactive = std::make_shared<InactiveWatcher>();
  process::set_child_watcher(inactive);
  std::string marker = "/tmp/aio-process-not-spawned-" + std::to_string(::getpid());
  std::string message = error_message([&] {
    run(loop, subprocess_shell<SubprocessRecorder>(
                  loop, [] { return std::make_shared<SubprocessRecorder>(); }, "touch " + marker));
  });
  process::set_child_watcher(nullptr);
  EXPECT_EQ(message,
            "asyncio.get_child_watcher() is not activated, subprocess support is not installed.");
  EXPECT_EQ(inactive->added, 0);
  EXPECT_NE(::access(marker.c_str(), F_OK), 0) << "the command ran";
  ::unlink(marker.c_str());
}

// A watcher that records how subprocess_exec uses it and delegates the watching to a real one.
class TracingWatcher final : public process::AbstractChildWatcher {
 public:
  void add_child_handler(pid_t pid, process::ChildCallback callback) override {
    calls.push_back("add");
    inner.add_child_handler(pid, std::move(callback));
  }
  bool remove_child_handler(pid_t pid) override { return inner.remove_child_handler(pid); }
  void attach_loop(EventLoop* loop) override {}
  void close() override {}
  bool is_active() const override { return true; }
  void enter() override { calls.push_back("enter"); }
  void exit() override { calls.push_back("exit"); }
  std::vector<std::string> calls;
  process::PidfdChildWatcher inner;
};

TEST(SubprocessExecTest, SpawnAndRegistrationHappenInsideTheWatchersScope) {
  EventLoop loop;
  auto watcher = std::make_shared<TracingWatcher>();
  process::set_child_watcher(watcher);
  Recorded made = start(loop, {"exit", "4"});
  run_until_lost(loop, made);
  EXPECT_THROW(start(loop, {"exit", "0"}, {.cwd = std::string("/nonexistent-aio")}),
               FileNotFoundError);
  process::set_child_watcher(nullptr);
  EXPECT_EQ(made.first->get_returncode(), 4);
  EXPECT_EQ(watcher->calls, (std::vector<std::string>{"enter", "add", "exit", "enter", "exit"}))
      << "with watcher: around spawn + add_child_handler, also when the spawn fails";
}

TEST(SubprocessExecTest, CancellingBeforeItReturnsKillsAndReapsTheChild) {
  EventLoop loop;
  auto recorder = std::make_shared<SubprocessRecorder>();
  Task<Recorded> task = loop.create_task(subprocess_exec<SubprocessRecorder>(
      loop, [recorder] { return recorder; }, child_path(), {"sleep", "30"}));
  // connection_made runs one step before subprocess_exec would return: cancel it there.
  recorder->on_data = nullptr;
  bool cancelled_in_made = false;
  loop.call_soon([&] {
    loop.call_soon([&] {
      // By now the child is spawned and its connection_made is queued ahead of the return.
      cancelled_in_made = task.cancel();
    });
  });
  EXPECT_THROW(loop.run_until_complete(wait_for(Future<Recorded>(task), 20.0)), CancelledError);
  EXPECT_TRUE(cancelled_in_made);
  run_until(loop, [&] { return recorder->lost; });
  EXPECT_EQ(recorder->trace().substr(0, 4), "made");
  EXPECT_TRUE(recorder->exited);
  // The no-child-left listener checks that it was reaped.
}

TEST(SubprocessExecTest, ClosingTheLoopWithAChildRunningLeavesNoZombieNoFd) {
  aio::testing::LogCapture logs;
  {
    EventLoop loop;
    Recorded made = start(loop, {"sleep", "30"});
    loop.close();
  }
  bool warned = false;
  for (const auto& record : logs.records()) {
    warned |= record.message.find("unclosed transport <UnixSubprocessTransport") == 0;
  }
  EXPECT_TRUE(warned);
}

// CPython's asyncio as the oracle: the same argument errors, the same spawn error text, and the
// same callback order for a child with no pipes (all DEVNULL), where the order is deterministic.
TEST(SubprocessExecTest, SameMessagesAndOrderAsCPython) {
  EventLoop loop;
  auto factory = [] { return std::make_shared<SubprocessRecorder>(); };
  std::vector<std::string> ours;
  for (SubprocessOptions options :
       {SubprocessOptions{.universal_newlines = true}, SubprocessOptions{.text = true},
        SubprocessOptions{.encoding = std::string("utf-8")},
        SubprocessOptions{.errors = std::string("strict")}, SubprocessOptions{.bufsize = 1},
        SubprocessOptions{.shell = true}}) {
    ours.push_back(error_message([&] {
      run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, "true", {}, options));
    }));
  }
  ours.push_back(error_message([&] {
    run(loop, subprocess_shell<SubprocessRecorder>(loop, factory, "true", {.shell = false}));
  }));
  ours.push_back(error_message([&] {
    run(loop, subprocess_exec<SubprocessRecorder>(loop, factory, "aio-no-such-program", {}));
  }));
  Recorded made = start(
      loop, {"exit", "0"},
      {.stdin = subprocess::DEVNULL, .stdout = subprocess::DEVNULL, .stderr = subprocess::DEVNULL});
  run_until_lost(loop, made);
  ours.push_back(made.second->trace());
  std::string joined;
  for (const std::string& item : ours) joined += (joined.empty() ? "" : "|") + item;
  aio::testing::expect_same_as_cpython(joined, R"(
import asyncio, subprocess
D = subprocess.DEVNULL
class P(asyncio.SubprocessProtocol):
    def __init__(self): self.events = []; self.done = asyncio.get_running_loop().create_future()
    def connection_made(self, t): self.events.append("made")
    def process_exited(self): self.events.append("exited")
    def connection_lost(self, exc): self.events.append("lost"); self.done.set_result(None)
async def main():
    loop = asyncio.get_running_loop()
    out = []
    for kw in [dict(universal_newlines=True), dict(text=True), dict(encoding="utf-8"),
               dict(errors="strict"), dict(bufsize=1), dict(shell=True)]:
        try: await loop.subprocess_exec(P, "true", **kw)
        except ValueError as e: out.append(str(e))
    try: await loop.subprocess_shell(P, "true", shell=False)
    except ValueError as e: out.append(str(e))
    try: await loop.subprocess_exec(P, "aio-no-such-program")
    except FileNotFoundError as e: out.append(str(e))
    t, p = await loop.subprocess_exec(P, "true", stdin=D, stdout=D, stderr=D)
    await p.done
    t.close()
    out.append(" ".join(p.events))
    print("|".join(out))
asyncio.run(main())
)");
}

TEST(SubprocessExecTest, Repr) {
  EventLoop loop;
  Recorded made = start(
      loop, {"sleep", "0.2"},
      {.stdin = subprocess::DEVNULL, .stdout = subprocess::DEVNULL, .stderr = subprocess::DEVNULL});
  std::string pid = std::to_string(made.first->get_pid());
  EXPECT_EQ(made.first->repr(), "<UnixSubprocessTransport pid=" + pid + " running>");
  run_until_lost(loop, made);
  EXPECT_EQ(made.first->repr(), "<UnixSubprocessTransport pid=" + pid + " returncode=0>");
  made.first->close();
  EXPECT_EQ(made.first->repr(), "<UnixSubprocessTransport closed pid=" + pid + " returncode=0>");
}

}  // namespace
}  // namespace aio
