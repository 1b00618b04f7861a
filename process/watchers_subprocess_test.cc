// Each child watcher of this package (Threaded, Safe, Fast, MultiLoop) installed with
// set_child_watcher under the real subprocess code: create_subprocess_exec + communicate / wait,
// a signal, 20 children at once, and the low-level protocol's order rules. The contract of the
// watchers themselves is child_watchers_test's; this shows they serve //process end to end
// (Fast only works because spawning happens inside the watcher's scope).
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "process/fast_child_watcher.h"
#include "process/multi_loop_child_watcher.h"
#include "process/process.h"
#include "process/safe_child_watcher.h"
#include "process/subprocess.h"
#include "process/test_util.h"
#include "process/threaded_child_watcher.h"
#include "process/watcher_kinds.h"
#include "process/watcher_policy.h"

namespace aio::process {
namespace {

bool no_children() {
  siginfo_t info{};
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

template <class W>
class WatcherUnderSubprocesses : public ::testing::Test {
 protected:
  void SetUp() override {
    watcher_ = std::make_shared<W>();
    watcher_->attach_loop(&loop_);
    set_child_watcher(watcher_);
  }
  void TearDown() override {
    set_child_watcher(nullptr);
    watcher_->close();
    EXPECT_TRUE(no_children()) << "a child (running or zombie) is left";
  }
  template <class T>
  T run(Coro<T> coro) {
    return testing::run(loop_, std::move(coro));
  }

  EventLoop loop_;
  std::shared_ptr<W> watcher_;
};

TYPED_TEST_SUITE(WatcherUnderSubprocesses, WatcherKinds, WatcherKindNames);

Coro<std::pair<std::string, int>> output_and_code(std::string script) {
  SubprocessOptions options;
  options.stdin = subprocess::DEVNULL;
  Process child = co_await create_subprocess_exec("/bin/sh", {"-c", script}, options);
  auto [out, err] = co_await child.communicate();
  int code = co_await child.wait();
  co_return std::pair{out + err, code};
}

TYPED_TEST(WatcherUnderSubprocesses, CommunicateAndExitCode) {
  auto [output, code] = this->run(output_and_code("echo out; echo err >&2; exit 3"));
  EXPECT_EQ(output, "out\nerr\n");
  EXPECT_EQ(code, 3);
}

Coro<int> killed_sleeper() {
  SubprocessOptions options;
  options.stdin = options.stdout = options.stderr = subprocess::DEVNULL;
  Process child = co_await create_subprocess_exec("/bin/sleep", {"30"}, options);
  EXPECT_FALSE(child.returncode().has_value());
  child.terminate();
  int code = co_await child.wait();
  EXPECT_EQ(child.returncode(), code);
  co_return code;
}

TYPED_TEST(WatcherUnderSubprocesses, TerminatedChildIsMinusSigterm) {
  EXPECT_EQ(this->run(killed_sleeper()), -SIGTERM);
}

Coro<std::vector<std::string>> twenty_at_once() {
  std::vector<Task<std::pair<std::string, int>>> tasks;
  for (int i = 0; i < 20; ++i) {
    tasks.push_back(
        create_task(output_and_code("echo " + std::to_string(i) + "; exit " + std::to_string(i))));
  }
  std::vector<std::string> results;
  for (auto& task : tasks) {
    auto [output, code] = co_await task;
    results.push_back(output + std::to_string(code));
  }
  co_return results;
}

TYPED_TEST(WatcherUnderSubprocesses, TwentyChildrenAtOnce) {
  std::vector<std::string> results = this->run(twenty_at_once());
  ASSERT_EQ(results.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(results[i], std::to_string(i) + "\n" + std::to_string(i));
  }
}

Coro<std::shared_ptr<testing::SubprocessRecorder>> recorded_child() {
  auto [transport, protocol] = co_await subprocess_exec<testing::SubprocessRecorder>(
      get_running_loop(), [] { return std::make_shared<testing::SubprocessRecorder>(); }, "/bin/sh",
      {"-c", "echo hi; exit 4"});
  while (!protocol->lost) co_await sleep(0.001);  // bounded by run()'s timeout
  EXPECT_EQ(transport->get_returncode(), 4);
  co_return protocol;
}

TYPED_TEST(WatcherUnderSubprocesses, ProtocolCallbacksKeepTheirOrder) {
  // The recorder checks asyncio's rules as the callbacks come (exactly once, exit and every
  // pipe before connection_lost); here, what arrived.
  std::shared_ptr<testing::SubprocessRecorder> protocol = this->run(recorded_child());
  EXPECT_EQ(protocol->output[1], "hi\n");
  EXPECT_EQ(protocol->returncode_at_exit, 4);
  ASSERT_FALSE(protocol->events.empty());
  EXPECT_EQ(protocol->events.front(), "made");
  EXPECT_EQ(protocol->events.back(), "lost");
}

}  // namespace
}  // namespace aio::process
