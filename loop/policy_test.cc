// Policies, get/set/new_event_loop, aio::run and task factories.
#include "loop/policy.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/run.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using ::aio::testing::error_message;

TEST(PolicyTest, MainThreadGetsAnImplicitLoopOtherThreadsDoNot) {
  set_event_loop_policy(nullptr);  // a fresh default policy
  EventLoop& implicit = get_event_loop();
  EXPECT_EQ(&get_event_loop(), &implicit) << "the same loop every time";
  std::string from_thread;
  std::thread other([&] { from_thread = error_message([] { get_event_loop(); }); });
  other.join();
  EXPECT_EQ(from_thread.rfind("There is no current event loop in thread ", 0), 0u) << from_thread;
  set_event_loop_policy(nullptr);  // releases the implicit loop
}

TEST(PolicyTest, SetEventLoopIsPerThreadAndNullClearsIt) {
  set_event_loop_policy(nullptr);
  std::unique_ptr<EventLoop> mine = new_event_loop();
  set_event_loop(mine.get());
  EXPECT_EQ(&get_event_loop(), mine.get());
  EventLoop* seen_in_thread = nullptr;
  std::thread other([&] {
    std::unique_ptr<EventLoop> theirs = new_event_loop();
    set_event_loop(theirs.get());
    seen_in_thread = &get_event_loop();
    EXPECT_EQ(seen_in_thread, theirs.get());
    set_event_loop(nullptr);
  });
  other.join();
  EXPECT_NE(seen_in_thread, mine.get());
  set_event_loop(nullptr);
  EXPECT_THROW(get_event_loop(), RuntimeError) << "cleared explicitly: no implicit loop";
  set_event_loop_policy(nullptr);
}

TEST(PolicyTest, GetEventLoopPrefersTheRunningLoop) {
  set_event_loop_policy(nullptr);
  std::unique_ptr<EventLoop> current = new_event_loop();
  set_event_loop(current.get());
  EventLoop running;
  EventLoop* seen = nullptr;
  running.call_soon([&] {
    seen = &get_event_loop();
    running.stop();
  });
  running.run_forever();
  EXPECT_EQ(seen, &running);
  set_event_loop(nullptr);
  set_event_loop_policy(nullptr);
}

class CountingPolicy : public DefaultEventLoopPolicy {
 public:
  std::unique_ptr<EventLoop> new_event_loop() override {
    ++made;
    return DefaultEventLoopPolicy::new_event_loop();
  }
  int made = 0;
};

TEST(PolicyTest, CustomPolicyIsUsedByNewEventLoopAndRun) {
  auto policy = std::make_unique<CountingPolicy>();
  CountingPolicy* counting = policy.get();
  set_event_loop_policy(std::move(policy));
  EXPECT_EQ(&get_event_loop_policy(), counting);
  new_event_loop();
  auto main_coro = []() -> Coro<int> { co_return 1; };
  EXPECT_EQ(run(main_coro()), 1);
  EXPECT_EQ(counting->made, 2);
  set_event_loop_policy(nullptr);
  EXPECT_NE(dynamic_cast<DefaultEventLoopPolicy*>(&get_event_loop_policy()), nullptr);
}

TEST(RunTest, RunsMainAndClosesTheLoop) {
  set_event_loop_policy(nullptr);
  EventLoop* used = nullptr;
  bool debug = false;
  auto main_coro = [&]() -> Coro<std::string> {
    used = &get_running_loop();
    debug = used->get_debug();
    co_await sleep(0.001);
    co_return "main done";
  };
  EXPECT_EQ(run(main_coro(), /*debug=*/true), "main done");
  EXPECT_TRUE(debug);
  EXPECT_THROW(get_event_loop(), RuntimeError) << "run() clears the current loop";
  set_event_loop_policy(nullptr);
}

TEST(RunTest, CancelsLeftoverTasksAndShutsTheExecutorDown) {
  std::vector<std::string> order;
  auto leftover = [&]() -> Coro<void> {
    try {
      co_await sleep(3600);
    } catch (const CancelledError&) {
      order.push_back("leftover cancelled");
      throw;
    }
  };
  auto failing_on_cancel = [&]() -> Coro<void> {
    bool cancelled = false;
    try {
      co_await sleep(3600);
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) throw ValueError("cleanup failed");
  };
  testing::LogCapture log;
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& loop = get_running_loop();
    loop.create_task(leftover(), "leftover");
    loop.create_task(failing_on_cancel(), "bad-cleanup");
    co_await loop.run_in_executor(nullptr, [] {});
    co_await sleep(0);
    order.push_back("main returns");
  };
  run(main_coro());
  EXPECT_EQ(order, (std::vector<std::string>{"main returns", "leftover cancelled"}));
  auto records = log.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message.rfind("unhandled exception during aio::run() shutdown\n", 0), 0u);
  EXPECT_NE(records[0].message.find("name='bad-cleanup'"), std::string::npos);
  EXPECT_NE(records[0].message.find("aio::ValueError: cleanup failed"), std::string::npos);
  set_event_loop_policy(nullptr);
}

TEST(RunTest, RefusedInsideARunningLoopAndPropagatesExceptions) {
  auto inner = []() -> Coro<void> { co_return; };
  auto main_coro = [&]() -> Coro<std::string> { co_return error_message([&] { run(inner()); }); };
  EXPECT_EQ(run(main_coro()), "aio::run() cannot be called from a running event loop");
  auto failing = []() -> Coro<int> {
    throw TimeoutError("too slow");
    co_return 0;
  };
  EXPECT_THROW(run(failing()), TimeoutError);
  set_event_loop_policy(nullptr);
}

TEST(TaskFactoryTest, ThrowingFactoryMeansTheTaskNeverRuns) {
  testing::LogCapture log;
  EventLoop loop;
  loop.set_task_factory([](EventLoop&, TaskRef) { throw ValueError("refused"); });
  bool ran = false;
  auto body = [&]() -> Coro<void> {
    ran = true;
    co_return;
  };
  EXPECT_THROW(loop.create_task(body()), ValueError);
  loop.stop();
  loop.run_forever();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(log.records().empty()) << "nothing to report for a task that never existed";
}

TEST(TaskFactoryTest, FactorySeesEveryNewTaskAndNullRestoresTheDefault) {
  EventLoop loop;
  EXPECT_FALSE(loop.get_task_factory());
  std::vector<std::string> seen;
  loop.set_task_factory([&](EventLoop& l, TaskRef task) {
    EXPECT_EQ(&l, &loop);
    seen.push_back(task.get_name());
    task.set_name("factory-" + task.get_name());
  });
  EXPECT_TRUE(loop.get_task_factory());
  auto body = []() -> Coro<int> { co_return 3; };
  Task<int> task = loop.create_task(body(), "t");
  EXPECT_EQ(task.get_name(), "factory-t");
  EXPECT_EQ(loop.run_until_complete(task), 3);
  loop.set_task_factory(nullptr);
  EXPECT_FALSE(loop.get_task_factory());
  Task<int> plain = loop.create_task(body(), "plain");
  EXPECT_EQ(plain.get_name(), "plain");
  loop.run_until_complete(plain);
  EXPECT_EQ(seen, std::vector<std::string>{"t"});
}

}  // namespace
}  // namespace aio
