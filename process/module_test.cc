// `import aio.process;` alone is enough to use //process: create_subprocess_exec runs /bin/echo
// and communicate() reads its output; subprocess_exec with a SubprocessProtocol of the test's
// own sees the pipe data and the exit; a child watcher chosen with set_child_watcher reports
// the exit status; a missing program is FileNotFoundError. aio.net and aio.loop come
// re-exported (a Process's pipes are streams).
#include <algorithm>
#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

import aio.process;

namespace {

TEST(ProcessModuleTest, EchoThroughCreateSubprocessExec) {
  auto [out, err, code] = aio::run([]() -> aio::Coro<std::tuple<std::string, std::string, int>> {
    aio::Process proc = co_await aio::create_subprocess_exec("/bin/echo", {"hello", "module"});
    auto [out, err] = co_await aio::wait_for(proc.communicate(), 10);
    co_return std::tuple{out, err, proc.returncode().value_or(-1000)};
  }());
  EXPECT_EQ(out, "hello module\n");
  EXPECT_EQ(err, "");
  EXPECT_EQ(code, 0);
}

// Records what asyncio's SubprocessProtocol callbacks report, in order.
struct Recorder : aio::SubprocessProtocol {
  std::string out;
  std::vector<std::string> events;
  // connection_lost comes last: after the exit and after every pipe closed.
  aio::Future<void> lost = aio::get_running_loop().create_future<void>();
  void pipe_data_received(int fd, std::span<const std::byte> data) override {
    if (fd == 1) out.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  void pipe_connection_lost(int fd, std::exception_ptr) override {
    events.push_back("pipe " + std::to_string(fd) + " lost");
  }
  void process_exited() override { events.push_back("exited"); }
  void connection_lost(std::exception_ptr) override {
    events.push_back("lost");
    lost.set_result();
  }
};

TEST(ProcessModuleTest, SubprocessExecWithAProtocol) {
  auto [out, code, events] =
      aio::run([]() -> aio::Coro<std::tuple<std::string, int, std::vector<std::string>>> {
        aio::SubprocessOptions options;
        options.stdin = aio::subprocess::DEVNULL;
        options.stderr = aio::subprocess::DEVNULL;
        auto [transport, recorder] = co_await aio::subprocess_exec<Recorder>(
            aio::get_running_loop(), [] { return std::make_shared<Recorder>(); }, "/bin/echo",
            {"via a protocol"}, std::move(options));
        co_await aio::wait_for(recorder->lost, 10);
        int code = transport->get_returncode().value_or(-1000);
        transport->close();
        co_return std::tuple{recorder->out, code, recorder->events};
      }());
  EXPECT_EQ(out, "via a protocol\n");
  EXPECT_EQ(code, 0);
  // Only stdout is a pipe; asyncio reports its EOF and the exit, then connection_lost.
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events.back(), "lost");
  EXPECT_NE(std::find(events.begin(), events.end(), "pipe 1 lost"), events.end());
  EXPECT_NE(std::find(events.begin(), events.end(), "exited"), events.end());
}

TEST(ProcessModuleTest, ChosenChildWatcherReportsTheExitStatus) {
  auto watcher = std::make_shared<aio::process::ThreadedChildWatcher>();
  aio::process::set_child_watcher(watcher);
  std::shared_ptr<aio::process::AbstractChildWatcher> current = aio::process::get_child_watcher();
  int code = aio::run([]() -> aio::Coro<int> {
    aio::Process proc = co_await aio::create_subprocess_shell("exit 3");
    co_return co_await aio::wait_for(proc.wait(), 10);
  }());
  aio::process::set_child_watcher(nullptr);  // back to the default PidfdChildWatcher
  watcher->close();
  EXPECT_EQ(current, watcher);
  EXPECT_EQ(code, 3);
  EXPECT_NE(
      std::dynamic_pointer_cast<aio::process::PidfdChildWatcher>(aio::process::get_child_watcher()),
      nullptr);
}

TEST(ProcessModuleTest, MissingProgramIsFileNotFoundError) {
  EXPECT_THROW(aio::run([]() -> aio::Coro<void> {
                 co_await aio::create_subprocess_exec("/nonexistent/aio-module-test");
               }()),
               aio::FileNotFoundError);
}

}  // namespace
