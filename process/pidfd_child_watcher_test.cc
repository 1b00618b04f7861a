// PidfdChildWatcher on its own (children started with posix_spawn here, not by //process), the
// policy functions, and subprocesses from loops on other threads.
#include "process/pidfd_child_watcher.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/errors.h"
#include "loop/event_loop.h"
#include "process/process.h"
#include "process/test_util.h"
#include "process/watcher_policy.h"
#include "testing/loop_test_util.h"

extern char** environ;

namespace aio::process {
namespace {

using aio::testing::LogCapture;
using aio::testing::run_until;
using testing::run;

pid_t spawn(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  return pid;
}

void reap(pid_t pid) { ::waitpid(pid, nullptr, 0); }

struct Report {
  int calls = 0;
  pid_t pid = -1;
  int returncode = -1000;
  std::thread::id thread;
};

ChildCallback record(Report& report) {
  return [&report](pid_t pid, int returncode) {
    ++report.calls;
    report.pid = pid;
    report.returncode = returncode;
    report.thread = std::this_thread::get_id();
  };
}

// Runs `body` on `loop` as a callback, so that there is a running loop.
template <class F>
void in_loop(EventLoop& loop, F body) {
  loop.call_soon([&] { body(); });
  loop.run_until_complete(sleep(0));
}

TEST(PidfdChildWatcherTest, ReportsExitOnceOnTheLoopThread) {
  EventLoop loop;
  PidfdChildWatcher watcher;
  Report exited, killed;
  pid_t a = spawn({"/bin/sh", "-c", "exit 5"});
  pid_t b = spawn({"/bin/sleep", "30"});
  in_loop(loop, [&] {
    watcher.add_child_handler(a, record(exited));
    watcher.add_child_handler(b, record(killed));
  });
  ::kill(b, SIGKILL);
  ASSERT_TRUE(run_until(loop, [&] { return exited.calls && killed.calls; }));
  EXPECT_EQ(exited.pid, a);
  EXPECT_EQ(exited.returncode, 5);
  EXPECT_EQ(killed.pid, b);
  EXPECT_EQ(killed.returncode, -SIGKILL);
  EXPECT_EQ(exited.thread, std::this_thread::get_id());
  loop.run_until_complete(sleep(0.05));  // time for a second call, if there were one
  EXPECT_EQ(exited.calls, 1);
  EXPECT_EQ(killed.calls, 1);
  EXPECT_FALSE(watcher.remove_child_handler(a)) << "reported: no longer registered";
}

TEST(PidfdChildWatcherTest, NeedsARunningLoop) {
  PidfdChildWatcher watcher;
  pid_t pid = spawn({"/bin/true"});
  EXPECT_EQ(aio::testing::error_message([&] { watcher.add_child_handler(pid, [](pid_t, int) {}); }),
            "no running event loop");
  reap(pid);
}

TEST(PidfdChildWatcherTest, UnknownPidIsProcessLookupError) {
  EventLoop loop;
  PidfdChildWatcher watcher;
  pid_t pid = spawn({"/bin/true"});
  reap(pid);  // gone: pidfd_open fails with ESRCH
  in_loop(loop, [&] {
    EXPECT_THROW(watcher.add_child_handler(pid, [](pid_t, int) {}), ProcessLookupError);
  });
}

TEST(PidfdChildWatcherTest, RemoveAndReplace) {
  EventLoop loop;
  PidfdChildWatcher watcher;
  Report first, second, removed;
  pid_t replaced = spawn({"/bin/sh", "-c", "sleep 0.05; exit 3"});
  pid_t dropped = spawn({"/bin/sh", "-c", "exit 4"});
  in_loop(loop, [&] {
    watcher.add_child_handler(replaced, record(first));
    watcher.add_child_handler(replaced, record(second));
    watcher.add_child_handler(dropped, record(removed));
    EXPECT_TRUE(watcher.remove_child_handler(dropped));
    EXPECT_FALSE(watcher.remove_child_handler(dropped));
  });
  ASSERT_TRUE(run_until(loop, [&] { return second.calls == 1; }));
  EXPECT_EQ(second.returncode, 3);
  EXPECT_EQ(first.calls, 0) << "re-registering replaces the callback";
  loop.run_until_complete(sleep(0.05));  // time for a second call, if there were one
  EXPECT_EQ(removed.calls, 0);
  int status = 0;
  EXPECT_EQ(::waitpid(dropped, &status, 0), dropped) << "a removed child is not reaped";
  EXPECT_EQ(WEXITSTATUS(status), 4);
}

TEST(PidfdChildWatcherTest, AChildReapedElsewhereIs255WithAWarning) {
  LogCapture logs;
  EventLoop loop;
  PidfdChildWatcher watcher;
  Report report;
  pid_t pid = spawn({"/bin/sh", "-c", "sleep 0.05; exit 9"});  // exits after we watch it
  in_loop(loop, [&] { watcher.add_child_handler(pid, record(report)); });
  reap(pid);  // someone else's waitpid
  ASSERT_TRUE(run_until(loop, [&] { return report.calls == 1; }));
  EXPECT_EQ(report.returncode, 255);
  bool warned = false;
  for (const auto& record : logs.records()) {
    warned |= record.level == LogLevel::kWarning &&
              record.message == "child process pid " + std::to_string(pid) +
                                    " exit status already read:  will report returncode 255";
  }
  EXPECT_TRUE(warned);
}

TEST(PidfdChildWatcherTest, ALoopClosingDropsItsEntriesAndTheirFds) {
  PidfdChildWatcher watcher;
  Report report;
  pid_t pid = spawn({"/bin/sleep", "30"});
  {
    EventLoop loop;
    in_loop(loop, [&] { watcher.add_child_handler(pid, record(report)); });
    loop.close();
  }
  EXPECT_EQ(report.calls, 0);
  EXPECT_FALSE(watcher.remove_child_handler(pid));
  ::kill(pid, SIGKILL);
  reap(pid);
  // The fd-leak listener checks that the pidfd was closed with the loop.
}

TEST(PidfdChildWatcherTest, StillReportsAfterCloseAndIsAlwaysActive) {
  EventLoop loop;
  PidfdChildWatcher watcher;
  EXPECT_TRUE(watcher.is_active());
  Report report;
  pid_t pid = spawn({"/bin/sh", "-c", "sleep 0.02"});
  in_loop(loop, [&] { watcher.add_child_handler(pid, record(report)); });
  watcher.close();
  watcher.attach_loop(nullptr);
  EXPECT_TRUE(watcher.is_active());
  ASSERT_TRUE(run_until(loop, [&] { return report.calls == 1; }));
  EXPECT_EQ(report.returncode, 0);
}

TEST(WatcherPolicyTest, DefaultIsPidfdAndSetReplacesIt) {
  std::shared_ptr<AbstractChildWatcher> watcher = get_child_watcher();
  EXPECT_NE(dynamic_cast<PidfdChildWatcher*>(watcher.get()), nullptr);
  EXPECT_EQ(get_child_watcher(), watcher) << "one watcher, made once";
  auto other = std::make_shared<PidfdChildWatcher>();
  set_child_watcher(other);
  EXPECT_EQ(get_child_watcher(), other);
  // Subprocesses use the policy's watcher: a fresh one still works.
  EventLoop loop;
  int code = run(loop, []() -> Coro<int> {
    Process proc = co_await create_subprocess_exec("/bin/sh", {"-c", "exit 6"});
    co_return co_await proc.wait();
  }());
  EXPECT_EQ(code, 6);
  set_child_watcher(nullptr);
  std::shared_ptr<AbstractChildWatcher> fresh = get_child_watcher();
  EXPECT_NE(fresh, other);
  EXPECT_NE(dynamic_cast<PidfdChildWatcher*>(fresh.get()), nullptr);
}

// Subprocesses from loops on other threads, at the same time: the pidfd watcher needs neither
// the main thread nor a signal handler.
TEST(PidfdChildWatcherTest, SubprocessesFromLoopsOnOtherThreads) {
  constexpr int kThreads = 4;
  std::vector<std::string> outputs(kThreads);
  std::vector<int> codes(kThreads, -1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &outputs, &codes] {
      EventLoop loop;
      auto [out, code] = run(loop, [](int t) -> Coro<std::pair<std::string, int>> {
        std::string text;
        int code = 0;
        for (int i = 0; i < 5; ++i) {
          Process proc = co_await create_subprocess_exec("cat");
          auto [out, err] = co_await proc.communicate("t" + std::to_string(t) + " ");
          text += out;
          code += co_await proc.wait();
        }
        co_return std::pair{text, code};
      }(t));
      outputs[t] = out;
      codes[t] = code;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    std::string expected;
    for (int i = 0; i < 5; ++i) expected += "t" + std::to_string(t) + " ";
    EXPECT_EQ(outputs[t], expected);
    EXPECT_EQ(codes[t], 0);
  }
}

}  // namespace
}  // namespace aio::process
