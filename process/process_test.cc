// The high level: create_subprocess_exec / create_subprocess_shell, Process's streams, wait()
// with many waiters, communicate(), signals; with real programs (cat, head, wc, sh, python3)
// and the test child.
#include "process/process.h"

#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "process/test_util.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using process::testing::child_path;
using process::testing::run;

std::string pattern(std::size_t size) {
  std::string text(size, 'a');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + i % 26);
  return text;
}

TEST(ProcessTest, CommunicateWithCat) {
  EventLoop loop;
  auto [out, err, code] = run(loop, []() -> Coro<std::tuple<std::string, std::string, int>> {
    Process proc = co_await create_subprocess_exec("cat");
    EXPECT_TRUE(proc.stdin && proc.stdout && proc.stderr);
    EXPECT_GT(proc.pid, 0);
    EXPECT_EQ(proc.returncode(), std::nullopt);
    auto [out, err] = co_await proc.communicate("hello\nworld\n");
    co_return std::tuple{out, err, *proc.returncode()};
  }());
  EXPECT_EQ(out, "hello\nworld\n");
  EXPECT_EQ(err, "");
  EXPECT_EQ(code, 0);
}

TEST(ProcessTest, CommunicateReadsBothPipesAtOnce) {
  EventLoop loop;
  // 1 MiB through stdin, copied to stdout and stderr: more than any pipe buffer on each, so
  // this finishes only if all three are served concurrently.
  std::string input = pattern(1 << 20);
  auto [out, err] = run(loop, [&]() -> Coro<std::pair<std::string, std::string>> {
    Process proc = co_await create_subprocess_exec(child_path(), {"echo_both"});
    co_return co_await proc.communicate(input);
  }());
  EXPECT_TRUE(out == input);
  EXPECT_TRUE(err == input);
}

TEST(ProcessTest, CommunicateIgnoresAChildThatStopsReading) {
  EventLoop loop;
  auto [out, code] = run(loop, []() -> Coro<std::pair<std::string, int>> {
    Process proc = co_await create_subprocess_shell("head -c 5 | wc -c");
    auto [out, err] = co_await proc.communicate(std::string(1 << 20, 'x'));
    co_return std::pair{out, co_await proc.wait()};
  }());
  EXPECT_EQ(out, "5\n");
  EXPECT_EQ(code, 0);
}

TEST(ProcessTest, StdinWritesWithDrainWhileReadingStdout) {
  EventLoop loop;
  std::string data = pattern(1 << 20);
  std::string echoed = run(loop, [&]() -> Coro<std::string> {
    Process proc = co_await create_subprocess_exec("cat");
    Task<std::string> reader = get_running_loop().create_task(proc.stdout->read());
    for (std::size_t at = 0; at < data.size(); at += 64 * 1024) {
      proc.stdin->write(std::string_view(data).substr(at, 64 * 1024));
      co_await proc.stdin->drain();
    }
    proc.stdin->close();
    std::string out = co_await reader;
    EXPECT_EQ(co_await proc.wait(), 0);
    co_return out;
  }());
  EXPECT_TRUE(echoed == data);
}

TEST(ProcessTest, PythonAsARealPeer) {
  EventLoop loop;
  auto [out, code] = run(loop, []() -> Coro<std::pair<std::string, int>> {
    Process proc = co_await create_subprocess_exec(
        "python3", {"-c", "import sys; sys.stdout.write(sys.stdin.read().upper()); sys.exit(4)"});
    auto [out, err] = co_await proc.communicate("shout\n");
    co_return std::pair{out, *proc.returncode()};
  }());
  EXPECT_EQ(out, "SHOUT\n");
  EXPECT_EQ(code, 4);
}

TEST(ProcessTest, TenConcurrentWaitsAllGetTheCodeAndCancellingOneLeavesTheChild) {
  EventLoop loop;
  std::vector<int> codes = run(loop, []() -> Coro<std::vector<int>> {
    EventLoop& loop = get_running_loop();
    Process proc = co_await create_subprocess_exec(child_path(), {"sleep", "0.2"},
                                                   {.stdin = subprocess::DEVNULL});
    std::vector<Task<int>> waits;
    for (int i = 0; i < 10; ++i) waits.push_back(loop.create_task(proc.wait()));
    Task<int> cancelled = loop.create_task(proc.wait());
    co_await sleep(0.01);
    cancelled.cancel();
    std::vector<int> codes;
    for (Task<int>& wait : waits) codes.push_back(co_await wait);
    EXPECT_TRUE(cancelled.cancelled());
    codes.push_back(co_await proc.wait());  // after the exit: at once
    co_return codes;
  }());
  EXPECT_EQ(codes, std::vector<int>(11, 0)) << "the child ran to its end, not killed";
}

TEST(ProcessTest, FiftyChildrenAtOnce) {
  EventLoop loop;
  std::vector<std::string> outputs = run(loop, []() -> Coro<std::vector<std::string>> {
    EventLoop& loop = get_running_loop();
    std::vector<Task<std::string>> runs;
    for (int i = 0; i < 50; ++i) {
      runs.push_back(loop.create_task([](int i) -> Coro<std::string> {
        Process proc = co_await create_subprocess_shell("echo " + std::to_string(i) + "; exit " +
                                                        std::to_string(i % 7));
        auto [out, err] = co_await proc.communicate();
        co_return out + "/" + std::to_string(*proc.returncode());
      }(i)));
    }
    std::vector<std::string> outputs;
    for (Task<std::string>& r : runs) outputs.push_back(co_await r);
    co_return outputs;
  }());
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(outputs[i], std::to_string(i) + "\n/" + std::to_string(i % 7));
  }
}

TEST(ProcessTest, SlowReaderGetsAllOutputWrittenBeforeExit) {
  EventLoop loop;
  constexpr std::size_t kSize = 256 * 1024;
  std::string out = run(loop, []() -> Coro<std::string> {
    Process proc = co_await create_subprocess_exec(child_path(), {"write", std::to_string(kSize)});
    std::string out;
    while (true) {
      std::string piece = co_await proc.stdout->read(4096);
      if (piece.empty()) break;
      out += piece;
      co_await sleep(0.0005);
    }
    EXPECT_EQ(co_await proc.wait(), 0);
    co_return out;
  }());
  EXPECT_EQ(out.size(), kSize);
  EXPECT_TRUE(out == pattern(kSize));
}

TEST(ProcessTest, SignalsAndReturnCodes) {
  EventLoop loop;
  run(loop, []() -> Coro<void> {
    Process proc = co_await create_subprocess_exec("sleep", {"30"});
    proc.terminate();
    EXPECT_EQ(co_await proc.wait(), -SIGTERM);
    EXPECT_THROW(proc.kill(), ProcessLookupError);
    Process killed = co_await create_subprocess_exec("sleep", {"30"});
    killed.kill();
    EXPECT_EQ(co_await killed.wait(), -SIGKILL);
    Process hup = co_await create_subprocess_exec("sleep", {"30"});
    hup.send_signal(SIGHUP);
    EXPECT_EQ(co_await hup.wait(), -SIGHUP) << "SIGHUP is at SIG_DFL in the child";
    EXPECT_EQ(hup.repr(), "<Process " + std::to_string(hup.pid) + ">");
  }());
}

TEST(ProcessTest, StreamsOnlyForPipes) {
  EventLoop loop;
  run(loop, []() -> Coro<void> {
    Process proc = co_await create_subprocess_exec(
        "echo", {"x"},
        {.stdin = subprocess::DEVNULL, .stdout = subprocess::PIPE, .stderr = subprocess::STDOUT});
    EXPECT_FALSE(proc.stdin);
    EXPECT_TRUE(proc.stdout);
    EXPECT_FALSE(proc.stderr);
    auto [out, err] = co_await proc.communicate();
    EXPECT_EQ(out, "x\n");
    EXPECT_EQ(err, "");
  }());
}

TEST(ProcessTest, StderrToStdoutInterleavesBoth) {
  EventLoop loop;
  std::string out = run(loop, []() -> Coro<std::string> {
    Process proc = co_await create_subprocess_shell("echo one; echo two >&2; echo three",
                                                    {.stderr = subprocess::STDOUT});
    auto [out, err] = co_await proc.communicate();
    co_return out;
  }());
  EXPECT_EQ(out, "one\ntwo\nthree\n");
}

TEST(ProcessTest, ReadlineLimit) {
  EventLoop loop;
  run(loop, []() -> Coro<void> {
    Process proc = co_await create_subprocess_exec("echo", {"a-long-line"}, {}, /*limit=*/4);
    EXPECT_THROW(co_await proc.stdout->readline(), ValueError);
    co_await proc.wait();
  }());
}

TEST(ProcessTest, SpawnErrorsPropagate) {
  EventLoop loop;
  EXPECT_THROW(run(loop, create_subprocess_exec("aio-no-such-program")), FileNotFoundError);
  EXPECT_THROW(run(loop, create_subprocess_shell("true", {.shell = false})), ValueError);
}

TEST(ProcessTest, CancelledWaitForAroundCommunicateKillsNothingByItself) {
  EventLoop loop;
  run(loop, []() -> Coro<void> {
    Process proc = co_await create_subprocess_exec("sleep", {"30"});
    EXPECT_THROW(co_await wait_for(proc.wait(), 0.05), TimeoutError);
    EXPECT_EQ(proc.returncode(), std::nullopt);
    proc.kill();
    EXPECT_EQ(co_await proc.wait(), -SIGKILL);
  }());
}

TEST(ProcessTest, CancellingCommunicateStopsItsReadersAndLeavesTheChild) {
  EventLoop loop;
  run(loop, []() -> Coro<void> {
    Process proc = co_await create_subprocess_exec("sleep", {"30"});
    EXPECT_THROW(co_await wait_for(proc.communicate("input"), 0.05), TimeoutError);
    EXPECT_EQ(proc.returncode(), std::nullopt) << "the child is not killed";
    proc.kill();
    EXPECT_EQ(co_await proc.wait(), -SIGKILL);
  }());
}

TEST(ProcessTest, CancellingCreateSubprocessExecKillsAndReapsTheChild) {
  EventLoop loop;
  run(loop, []() -> Coro<void> {
    EventLoop& loop = get_running_loop();
    Task<Process> start = loop.create_task(create_subprocess_exec("sleep", {"30"}));
    // Let it spawn (first step), then cancel before it returns.
    co_await sleep(0);
    start.cancel();
    EXPECT_THROW(co_await start, CancelledError);
  }());
  // The no-child-left listener checks the child was killed and reaped.
}

}  // namespace
}  // namespace aio
