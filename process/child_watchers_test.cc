// The AbstractChildWatcher contract, run against every watcher here (a typed suite), then what
// each one does on its own: Threaded off the main thread, MultiLoop with two loops on two
// threads, Safe/Fast without a loop, Fast's memory of exits before registration and its
// unknown-pid warnings. Children are real /bin/sh and /bin/sleep processes made with
// posix_spawn; after every test the process has no child left, running or zombie.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "process/fast_child_watcher.h"
#include "process/multi_loop_child_watcher.h"
#include "process/safe_child_watcher.h"
#include "process/threaded_child_watcher.h"
#include "process/watcher_kinds.h"
#include "testing/loop_test_util.h"

extern char** environ;

namespace aio::process {
namespace {

using aio::testing::error_message;
using aio::testing::LogCapture;
using aio::testing::run_until;

pid_t spawn_argv(const char* path, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path, nullptr, nullptr, argv.data(), environ);
  EXPECT_EQ(rc, 0) << "posix_spawn " << path;
  return pid;
}

pid_t spawn_sh(const std::string& script) { return spawn_argv("/bin/sh", {"sh", "-c", script}); }
pid_t spawn_sleep() { return spawn_argv("/bin/sleep", {"sleep", "30"}); }

// Blocks until `pid` has exited, without reaping it (it stays a zombie).
void wait_until_zombie(pid_t pid) {
  siginfo_t info{};
  int rc;
  do {
    rc = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  ASSERT_EQ(rc, 0) << "pid " << pid << " is not our child";
}

// True if `pid` is no child of ours any more (someone reaped it).
bool reaped(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0 &&
         errno == ECHILD;
}

// True if `pid` is a zombie now.
bool is_zombie(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// No child at all, running or zombie.
bool no_children() {
  siginfo_t info{};
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

// Runs the loop for `seconds`, whatever happens (to see that something does NOT happen).
void run_for(EventLoop& loop, double seconds) {
  loop.call_later(seconds, [&] { loop.stop(); });
  aio::testing::run_with_timeout(loop, seconds + 10);
}

struct Report {
  pid_t pid;
  int returncode;
  std::thread::id thread;
};

// What differs between the watchers, as far as the shared contract goes.
template <class W>
struct Traits;
template <>
struct Traits<ThreadedChildWatcher> {
  static constexpr bool kReapsRemovedChildren = true;  // the thread waits for it anyway
  static constexpr bool kReportsAfterClose = true;     // 3.8's daemon threads
};
template <>
struct Traits<SafeChildWatcher> {
  static constexpr bool kReapsRemovedChildren = false;
  static constexpr bool kReportsAfterClose = false;
};
template <>
struct Traits<FastChildWatcher> {
  static constexpr bool kReapsRemovedChildren = true;  // waitpid(-1) reaps everything
  static constexpr bool kReportsAfterClose = false;
};
template <>
struct Traits<MultiLoopChildWatcher> {
  static constexpr bool kReapsRemovedChildren = false;
  static constexpr bool kReportsAfterClose = false;
};

// Kills and reaps what a failed test left, after checking that a passing one left nothing.
class ChildrenCheck {
 public:
  void track(pid_t pid) { pids_.push_back(pid); }
  void finish() {
    EXPECT_TRUE(no_children()) << "a child (running or zombie) is left";
    for (pid_t pid : pids_) {
      if (kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
    }
  }

 private:
  std::vector<pid_t> pids_;
};

template <class W>
class ChildWatcherContract : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(no_children());
    watcher_.attach_loop(&loop_);
  }
  void TearDown() override {
    watcher_.close();
    children_.finish();
  }

  // Spawns a child and registers it inside one scope (3.8's `with watcher:`), recording reports.
  pid_t start(const std::string& script) {
    return start_pid([&] { return spawn_sh(script); });
  }
  template <class Spawn>
  pid_t start_pid(Spawn spawn) {
    ChildWatcherScope scope(watcher_);
    pid_t pid = spawn();
    children_.track(pid);
    watcher_.add_child_handler(pid, recorder());
    return pid;
  }
  ChildCallback recorder() {
    return [this](pid_t pid, int returncode) {
      reports_.push_back({pid, returncode, std::this_thread::get_id()});
    };
  }
  bool wait_reports(std::size_t count) {
    return run_until(loop_, [&] { return reports_.size() >= count; });
  }
  std::optional<int> returncode_of(pid_t pid) const {
    std::optional<int> found;
    for (const Report& report : reports_) {
      if (report.pid == pid) {
        EXPECT_FALSE(found.has_value()) << "pid " << pid << " reported twice";
        found = report.returncode;
      }
    }
    return found;
  }

  EventLoop loop_;
  W watcher_;
  std::vector<Report> reports_;
  ChildrenCheck children_;
};

TYPED_TEST_SUITE(ChildWatcherContract, WatcherKinds, WatcherKindNames);

TYPED_TEST(ChildWatcherContract, ReportsEachExitStatusOnceOnTheLoopThread) {
  std::map<pid_t, int> expected;
  for (int code : {0, 1, 7, 255}) expected[this->start("exit " + std::to_string(code))] = code;
  ASSERT_TRUE(this->wait_reports(expected.size()));
  run_for(this->loop_, 0.05);  // a second report would show up here
  EXPECT_EQ(this->reports_.size(), expected.size());
  for (const auto& [pid, code] : expected) EXPECT_EQ(this->returncode_of(pid), code);
  for (const Report& report : this->reports_) {
    EXPECT_EQ(report.thread, std::this_thread::get_id());
  }
}

TYPED_TEST(ChildWatcherContract, DeathBySignalIsMinusTheSignal) {
  pid_t term = this->start("kill -TERM $$");
  pid_t killed = this->start("kill -KILL $$");
  pid_t sleeper = this->start_pid(spawn_sleep);
  ASSERT_TRUE(this->wait_reports(2));
  run_for(this->loop_, 0.1);
  EXPECT_FALSE(this->returncode_of(sleeper).has_value()) << "reported while still running";
  ASSERT_EQ(kill(sleeper, SIGINT), 0);
  ASSERT_TRUE(this->wait_reports(3));
  EXPECT_EQ(this->returncode_of(term), -SIGTERM);
  EXPECT_EQ(this->returncode_of(killed), -SIGKILL);
  EXPECT_EQ(this->returncode_of(sleeper), -SIGINT);
}

TYPED_TEST(ChildWatcherContract, RegisteringAgainReplacesTheCallback) {
  pid_t pid = this->start_pid(spawn_sleep);
  int first = 0;
  {
    ChildWatcherScope scope(this->watcher_);
    this->watcher_.add_child_handler(pid, [&](pid_t, int) { ++first; });
    this->watcher_.add_child_handler(pid, this->recorder());
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(this->wait_reports(1));
  run_for(this->loop_, 0.05);
  EXPECT_EQ(first, 0);
  ASSERT_EQ(this->reports_.size(), 1u);
  EXPECT_EQ(this->reports_[0].returncode, -SIGKILL);
}

TYPED_TEST(ChildWatcherContract, RemoveSaysWhetherThereWasAHandlerAndThenNothingIsReported) {
  EXPECT_FALSE(this->watcher_.remove_child_handler(1)) << "nothing registered for pid 1";
  LogCapture logs;
  pid_t pid = this->start_pid(spawn_sleep);
  EXPECT_TRUE(this->watcher_.remove_child_handler(pid));
  EXPECT_FALSE(this->watcher_.remove_child_handler(pid));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  if (Traits<TypeParam>::kReapsRemovedChildren) {
    ASSERT_TRUE(run_until(this->loop_, [&] { return reaped(pid); }));
  } else {
    wait_until_zombie(pid);
    run_for(this->loop_, 0.1);
    EXPECT_TRUE(is_zombie(pid)) << "a watcher reaped a child it no longer watches";
    ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  }
  run_for(this->loop_, 0.05);
  EXPECT_TRUE(this->reports_.empty());
}

TYPED_TEST(ChildWatcherContract, FiftyChildrenAtOnce) {
  std::map<pid_t, int> expected;
  for (int i = 0; i < 50; ++i) expected[this->start("exit " + std::to_string(i))] = i;
  ASSERT_TRUE(this->wait_reports(50));
  run_for(this->loop_, 0.05);
  EXPECT_EQ(this->reports_.size(), 50u);
  for (const auto& [pid, code] : expected) EXPECT_EQ(this->returncode_of(pid), code);
}

TYPED_TEST(ChildWatcherContract, ChildThatExitedBeforeRegistrationIsReported) {
  ChildWatcherScope scope(this->watcher_);
  pid_t pid = spawn_sh("exit 42");
  this->children_.track(pid);
  wait_until_zombie(pid);
  this->watcher_.add_child_handler(pid, this->recorder());
  ASSERT_TRUE(this->wait_reports(1));
  EXPECT_EQ(this->returncode_of(pid), 42);
}

TYPED_TEST(ChildWatcherContract, ChildReapedBySomeoneElseIs255WithAWarning) {
  LogCapture logs;
  ChildWatcherScope scope(this->watcher_);
  pid_t pid = spawn_sh("exit 3");
  ASSERT_EQ(waitpid(pid, nullptr, 0), pid);  // someone else
  this->watcher_.add_child_handler(pid, this->recorder());
  ASSERT_TRUE(this->wait_reports(1));
  EXPECT_EQ(this->returncode_of(pid), 255);
  std::string warning =
      "Unknown child process pid " + std::to_string(pid) + ", will report returncode 255";
  int warnings = 0;
  for (const auto& record : logs.records()) {
    if (record.level == LogLevel::kWarning && record.message == warning) ++warnings;
  }
  EXPECT_EQ(warnings, 1);
}

TYPED_TEST(ChildWatcherContract, CloseDropsRegistrationsExceptForThreaded) {
  pid_t pid = this->start_pid(spawn_sleep);
  this->watcher_.close();
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  if (Traits<TypeParam>::kReportsAfterClose) {
    ASSERT_TRUE(this->wait_reports(1));
    EXPECT_EQ(this->returncode_of(pid), -SIGKILL);
  } else {
    wait_until_zombie(pid);
    run_for(this->loop_, 0.1);
    EXPECT_TRUE(this->reports_.empty());
    EXPECT_TRUE(is_zombie(pid)) << "a closed watcher reaped a child";
    ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  }
}

TYPED_TEST(ChildWatcherContract, NonPositivePidIsAValueError) {
  for (pid_t pid : {0, -1}) {
    ChildWatcherScope scope(this->watcher_);
    EXPECT_THROW(this->watcher_.add_child_handler(pid, [](pid_t, int) {}), ValueError);
  }
  EXPECT_EQ(error_message([&] {
              ChildWatcherScope scope(this->watcher_);
              this->watcher_.add_child_handler(0, [](pid_t, int) {});
            }),
            "pid must be positive, got 0");
}

TYPED_TEST(ChildWatcherContract, CallbackMayRegisterTheNextChild) {
  pid_t second = -1;
  {
    ChildWatcherScope scope(this->watcher_);
    pid_t first = spawn_sh("exit 1");
    this->children_.track(first);
    this->watcher_.add_child_handler(first, [&](pid_t, int) { second = this->start("exit 2"); });
  }
  ASSERT_TRUE(this->wait_reports(1));
  EXPECT_EQ(this->returncode_of(second), 2);
}

// --- ThreadedChildWatcher ---------------------------------------------------------------------

TEST(ThreadedChildWatcher, WorksForALoopOffTheMainThread) {
  ChildrenCheck children;
  std::vector<Report> reports;
  std::thread::id loop_thread;
  std::thread([&] {
    loop_thread = std::this_thread::get_id();
    EventLoop loop;
    ThreadedChildWatcher watcher;  // no attach_loop: the running loop is used
    EXPECT_TRUE(watcher.is_active());
    loop.call_soon([&] {
      pid_t pid = spawn_sh("exit 5");
      children.track(pid);
      watcher.add_child_handler(pid, [&](pid_t pid, int returncode) {
        reports.push_back({pid, returncode, std::this_thread::get_id()});
      });
    });
    run_until(loop, [&] { return !reports.empty(); });
    EXPECT_EQ(watcher.waiting_threads(), 0);
  }).join();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].returncode, 5);
  EXPECT_EQ(reports[0].thread, loop_thread);
  children.finish();
}

TEST(ThreadedChildWatcher, NeedsARunningOrAttachedLoop) {
  ThreadedChildWatcher watcher;
  EXPECT_TRUE(watcher.is_active());
  EXPECT_EQ(error_message([&] { watcher.add_child_handler(12345, [](pid_t, int) {}); }),
            "no running event loop");
  EXPECT_EQ(watcher.waiting_threads(), 0);
}

TEST(ThreadedChildWatcher, AClosedLoopGetsNothingAndAWarning) {
  ChildrenCheck children;
  LogCapture logs;
  ThreadedChildWatcher watcher;
  pid_t pid;
  {
    EventLoop loop;
    watcher.attach_loop(&loop);
    pid = spawn_argv("/bin/sleep", {"sleep", "30"});
    children.track(pid);
    watcher.add_child_handler(pid, [](pid_t, int) { ADD_FAILURE() << "reported"; });
    loop.close();
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EventLoop poll_loop;
  run_until(poll_loop, [&] { return watcher.waiting_threads() == 0; });
  std::string prefix = "Loop <aio.EventLoop at ";
  std::string suffix = "> that handles pid " + std::to_string(pid) + " is closed";
  bool warned = false;
  for (const auto& record : logs.records()) {
    warned |= record.message.starts_with(prefix) && record.message.ends_with(suffix);
  }
  EXPECT_TRUE(warned);
  children.finish();
}

// --- MultiLoopChildWatcher --------------------------------------------------------------------

TEST(MultiLoopChildWatcher, EachChildIsReportedToTheLoopThatRegisteredIt) {
  ChildrenCheck children;
  MultiLoopChildWatcher watcher;
  EXPECT_FALSE(watcher.is_active());
  watcher.attach_loop(nullptr);  // 3.8's policy does this on the main thread: installs SIGCHLD
  EXPECT_TRUE(watcher.is_active());
  std::mutex mutex;
  std::vector<std::pair<int, std::thread::id>> reports;  // returncode, thread
  auto run_one = [&](int code) {
    EventLoop loop;
    bool done = false;
    loop.call_soon([&] {
      pid_t pid = spawn_sh("exit " + std::to_string(code));
      {
        std::lock_guard<std::mutex> lock(mutex);
        children.track(pid);
      }
      watcher.add_child_handler(pid, [&, code](pid_t, int returncode) {
        EXPECT_EQ(returncode, code);
        std::lock_guard<std::mutex> lock(mutex);
        reports.push_back({returncode, std::this_thread::get_id()});
        done = true;
      });
    });
    run_until(loop, [&] { return done; });
  };
  std::thread::id other_id;
  std::thread other([&] {
    other_id = std::this_thread::get_id();
    run_one(11);
  });
  run_one(10);
  other.join();
  ASSERT_EQ(reports.size(), 2u);
  std::sort(reports.begin(), reports.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  EXPECT_EQ(reports[0].second, std::this_thread::get_id());
  EXPECT_EQ(reports[1].second, other_id);
  watcher.close();
  EXPECT_FALSE(watcher.is_active());
  children.finish();
}

TEST(MultiLoopChildWatcher, HoldsSigchldAloneAndRestoresItOnClose) {
  struct sigaction before{};
  sigaction(SIGCHLD, nullptr, &before);
  MultiLoopChildWatcher first;
  first.attach_loop(nullptr);
  struct sigaction during{};
  sigaction(SIGCHLD, nullptr, &during);
  EXPECT_NE(during.sa_handler, before.sa_handler);
  EXPECT_TRUE(during.sa_flags & SA_RESTART);
  MultiLoopChildWatcher second;
  EXPECT_EQ(error_message([&] { second.attach_loop(nullptr); }),
            "SIGCHLD is handled by another MultiLoopChildWatcher");
  EXPECT_FALSE(second.is_active());
  first.close();
  struct sigaction after{};
  sigaction(SIGCHLD, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
  second.attach_loop(nullptr);  // free again
  EXPECT_TRUE(second.is_active());
}

TEST(MultiLoopChildWatcher, WarnsWhenOutsideCodeReplacedItsHandler) {
  LogCapture logs;
  MultiLoopChildWatcher watcher;
  watcher.attach_loop(nullptr);
  signal(SIGCHLD, SIG_IGN);
  watcher.close();
  struct sigaction now{};
  sigaction(SIGCHLD, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_IGN) << "the outside handler was kept";
  signal(SIGCHLD, SIG_DFL);
  ASSERT_FALSE(logs.records().empty());
  EXPECT_EQ(logs.records().back().message, "SIGCHLD handler was changed by outside code");
}

// --- SafeChildWatcher and FastChildWatcher ----------------------------------------------------

template <class W>
class SigchldWatcher : public ::testing::Test {};
using SigchldKinds = ::testing::Types<SafeChildWatcher, FastChildWatcher>;
class SigchldNames {
 public:
  template <class W>
  static std::string GetName(int) {
    return std::is_same_v<W, SafeChildWatcher> ? "Safe" : "Fast";
  }
};
TYPED_TEST_SUITE(SigchldWatcher, SigchldKinds, SigchldNames);

TYPED_TEST(SigchldWatcher, NeedsALoopAndIsActiveOnlyWhileItRuns) {
  TypeParam watcher;
  EXPECT_FALSE(watcher.is_active());
  EXPECT_EQ(error_message([&] {
              ChildWatcherScope scope(watcher);
              watcher.add_child_handler(12345, [](pid_t, int) {});
            }),
            "Cannot add child handler, the child watcher does not have a loop attached");
  EventLoop loop;
  watcher.attach_loop(&loop);
  EXPECT_FALSE(watcher.is_active()) << "attached, not running";
  bool active_inside = false;
  loop.call_soon([&] {
    active_inside = watcher.is_active();
    loop.stop();
  });
  aio::testing::run_with_timeout(loop);
  EXPECT_TRUE(active_inside);
  watcher.close();
  EXPECT_FALSE(watcher.is_active());
  struct sigaction now{};
  sigaction(SIGCHLD, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL) << "close() gave SIGCHLD back";
}

TYPED_TEST(SigchldWatcher, AttachingOffTheMainThreadIsRefused) {
  std::string message;
  std::thread([&] {
    EventLoop loop;
    TypeParam watcher;
    message = error_message([&] { watcher.attach_loop(&loop); });
    EXPECT_FALSE(watcher.is_active());
  }).join();
  EXPECT_EQ(message, "set_wakeup_fd only works in main thread");
}

TYPED_TEST(SigchldWatcher, DetachingWithPendingHandlersWarns) {
  ChildrenCheck children;
  LogCapture logs;
  EventLoop loop;
  TypeParam watcher;
  watcher.attach_loop(&loop);
  pid_t pid;
  {
    ChildWatcherScope scope(watcher);
    pid = spawn_sleep();
    children.track(pid);
    watcher.add_child_handler(pid, [](pid_t, int) {});
  }
  watcher.attach_loop(nullptr);
  ASSERT_FALSE(logs.records().empty());
  EXPECT_EQ(logs.records().back().message,
            "A loop is being detached from a child watcher with pending handlers");
  watcher.close();
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  children.finish();
}

TYPED_TEST(SigchldWatcher, AThrowingCallbackGoesToTheExceptionHandler) {
  ChildrenCheck children;
  EventLoop loop;
  TypeParam watcher;
  watcher.attach_loop(&loop);
  std::vector<std::string> messages;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& context) {
    messages.push_back(context.message + " / " + describe_exception(context.exception));
  });
  {
    ChildWatcherScope scope(watcher);
    pid_t pid = spawn_sleep();  // running: the callback cannot run inside add_child_handler
    children.track(pid);
    watcher.add_child_handler(pid, [](pid_t, int) { throw ValueError("boom"); });
    ASSERT_EQ(kill(pid, SIGKILL), 0);
  }
  ASSERT_TRUE(run_until(loop, [&] { return !messages.empty(); }));
  EXPECT_EQ(messages[0], "Unknown exception in SIGCHLD handler / aio::ValueError: boom");
  watcher.close();
  children.finish();
}

// --- SafeChildWatcher -------------------------------------------------------------------------

TEST(SafeChildWatcher, LeavesChildrenItWasNotAskedAboutAlone) {
  ChildrenCheck children;
  EventLoop loop;
  SafeChildWatcher watcher;
  watcher.attach_loop(&loop);
  pid_t stranger = spawn_sh("exit 9");
  children.track(stranger);
  wait_until_zombie(stranger);
  int reported = -1;
  pid_t pid = spawn_sh("exit 4");
  children.track(pid);
  watcher.add_child_handler(pid, [&](pid_t, int returncode) { reported = returncode; });
  ASSERT_TRUE(run_until(loop, [&] { return reported != -1; }));
  EXPECT_EQ(reported, 4);
  EXPECT_TRUE(is_zombie(stranger));
  int status = 0;
  ASSERT_EQ(waitpid(stranger, &status, 0), stranger);
  EXPECT_EQ(WEXITSTATUS(status), 9);
  watcher.close();
  children.finish();
}

// --- FastChildWatcher -------------------------------------------------------------------------

class FastChildWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { watcher_.attach_loop(&loop_); }
  void TearDown() override {
    watcher_.close();
    children_.finish();
  }
  static int count(const LogCapture& logs, const std::string& message) {
    int n = 0;
    for (const auto& record : logs.records()) {
      n += record.level == LogLevel::kWarning && record.message == message;
    }
    return n;
  }
  EventLoop loop_;
  FastChildWatcher watcher_;
  ChildrenCheck children_;
};

TEST_F(FastChildWatcherTest, ExitReapedBeforeRegistrationIsReportedOnRegistration) {
  LogCapture logs;
  ChildWatcherScope scope(watcher_);
  pid_t pid = spawn_sh("exit 6");
  children_.track(pid);
  ASSERT_TRUE(run_until(loop_, [&] { return reaped(pid); })) << "Fast reaps on SIGCHLD";
  int reported = -1;
  watcher_.add_child_handler(pid, [&](pid_t, int returncode) { reported = returncode; });
  EXPECT_EQ(reported, 6) << "reported within add_child_handler, as in 3.8";
  EXPECT_TRUE(logs.records().empty());
}

TEST_F(FastChildWatcherTest, UnknownPidOutsideAnyScopeIsLoggedAndDropped) {
  LogCapture logs;
  pid_t pid = spawn_sh("exit 3");
  children_.track(pid);
  ASSERT_TRUE(run_until(loop_, [&] { return reaped(pid); }));
  EXPECT_EQ(count(logs, "Caught subprocess termination from unknown pid: " + std::to_string(pid) +
                            " -> 3"),
            1);
}

TEST_F(FastChildWatcherTest, UnclaimedExitsAreLoggedWhenTheLastScopeCloses) {
  LogCapture logs;
  pid_t pid;
  {
    ChildWatcherScope outer(watcher_);
    {
      ChildWatcherScope inner(watcher_);
      pid = spawn_sh("exit 8");
      children_.track(pid);
      ASSERT_TRUE(run_until(loop_, [&] { return reaped(pid); }));
    }
    EXPECT_TRUE(logs.records().empty()) << "a scope is still open";
  }
  EXPECT_EQ(count(logs, "Caught subprocess termination from unknown pids: {" + std::to_string(pid) +
                            ": 8}"),
            1);
}

TEST_F(FastChildWatcherTest, RegisteringOutsideAScopeIsRefused) {
  EXPECT_EQ(error_message([&] { watcher_.add_child_handler(12345, [](pid_t, int) {}); }),
            "Must use the context manager");
}

}  // namespace
}  // namespace aio::process
