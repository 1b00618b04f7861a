// run_in_executor, the default executor, wrap_future and ConcurrentFuture.
#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "loop/run_in_executor.h"
#include "loop/task.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using namespace std::chrono_literals;

int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST(RunInExecutorTest, RunsOnAnotherThreadAndReturnsTheValue) {
  EventLoop loop;
  int threads_before = thread_count();
  auto loop_thread = std::this_thread::get_id();
  Future<bool> other = loop.run_in_executor(
      nullptr, [loop_thread] { return std::this_thread::get_id() != loop_thread; });
  EXPECT_GT(thread_count(), threads_before) << "the default pool starts on first use";
  EXPECT_TRUE(loop.run_until_complete(other));
  Future<std::string> text = loop.run_in_executor(nullptr, [] { return std::string("io"); });
  EXPECT_EQ(loop.run_until_complete(text), "io");
}

TEST(RunInExecutorTest, DefaultExecutorIsCreatedLazily) {
  int threads_before = thread_count();
  EventLoop loop;
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(thread_count(), threads_before);
}

TEST(RunInExecutorTest, ExceptionsKeepTheirType) {
  EventLoop loop;
  Future<int> failing =
      loop.run_in_executor(nullptr, []() -> int { throw FileNotFoundError(ENOENT, "cfg"); });
  EXPECT_THROW(loop.run_until_complete(failing), FileNotFoundError);
  Future<void> void_job = loop.run_in_executor(nullptr, [] {});
  loop.run_until_complete(void_job);
  EXPECT_TRUE(void_job.done());
}

TEST(RunInExecutorTest, AwaitableFromCoroutines) {
  EventLoop loop;
  auto body = [&]() -> Coro<int> {
    int a = co_await get_running_loop().run_in_executor(nullptr, [] { return 20; });
    int b = co_await get_running_loop().run_in_executor(nullptr, [] { return 22; });
    co_return a + b;
  };
  EXPECT_EQ(loop.run_until_complete(body()), 42);
}

// A user-written executor: one new thread per job.
class ThreadPerJobExecutor : public Executor {
 public:
  ~ThreadPerJobExecutor() override { shutdown(true); }
  void execute(absl::AnyInvocable<void()> job) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shut_down_) throw RuntimeError("cannot schedule new futures after shutdown");
    ++jobs;
    threads_.emplace_back(std::move(job));
  }
  void shutdown(bool wait) override {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shut_down_ = true;
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }
  std::atomic<int> jobs{0};

 private:
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  bool shut_down_ = false;
};

TEST(RunInExecutorTest, CustomAndDefaultExecutors) {
  EventLoop loop;
  ThreadPerJobExecutor mine;
  EXPECT_EQ(loop.run_until_complete(loop.run_in_executor(&mine, [] { return 1; })), 1);
  EXPECT_EQ(mine.jobs.load(), 1);
  auto shared = std::make_shared<ThreadPerJobExecutor>();
  loop.set_default_executor(shared);
  EXPECT_EQ(loop.run_until_complete(loop.run_in_executor(nullptr, [] { return 2; })), 2);
  EXPECT_EQ(shared->jobs.load(), 1);
}

TEST(RunInExecutorTest, CancellingBeforeTheJobStartsMeansItNeverRuns) {
  EventLoop loop;
  ThreadPoolExecutor single(1);
  std::atomic<bool> release{false};
  std::atomic<bool> second_ran{false};
  Future<void> blocker = loop.run_in_executor(&single, [&] {
    while (!release.load()) std::this_thread::sleep_for(1ms);
  });
  Future<void> queued = loop.run_in_executor(&single, [&] { second_ran = true; });
  EXPECT_TRUE(queued.cancel());
  loop.stop();
  loop.run_forever();  // the cancellation reaches the job (a done-callback) before it can start
  release = true;
  loop.run_until_complete(blocker);
  single.shutdown(true);
  EXPECT_FALSE(second_ran.load());
  EXPECT_TRUE(queued.cancelled());
}

TEST(RunInExecutorTest, JobFinishingAfterCancellationPostsNothing) {
  EventLoop loop;
  std::vector<ExceptionContext> reports;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) { reports.push_back(c); });
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  Future<int> running = loop.run_in_executor(nullptr, [&] {
    started = true;
    std::this_thread::sleep_for(20ms);
    finished = true;
    return 5;
  });
  while (!started.load()) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(running.cancel()) << "the loop side cancels; the running job cannot be stopped";
  loop.run_until_complete(sleep(0.05));
  EXPECT_TRUE(finished.load());
  EXPECT_TRUE(running.cancelled());
  EXPECT_TRUE(reports.empty());
}

TEST(RunInExecutorTest, JobOutlivingItsLoopIsHarmless) {
  std::atomic<bool> finished{false};
  {
    EventLoop loop;
    Future<int> job = loop.run_in_executor(nullptr, [&] {
      std::this_thread::sleep_for(30ms);
      finished = true;
      return 1;
    });
    loop.close();  // does not wait for the job
    EXPECT_FALSE(finished.load());
  }  // destroying the loop joins the pool: the job completes and posts nowhere
  EXPECT_TRUE(finished.load());
}

TEST(RunInExecutorTest, ShutdownDefaultExecutorWaitsAndRefusesNewJobs) {
  EventLoop loop;
  std::atomic<bool> finished{false};
  Future<void> job = loop.run_in_executor(nullptr, [&] {
    std::this_thread::sleep_for(20ms);
    finished = true;
  });
  loop.run_until_complete(loop.shutdown_default_executor());
  EXPECT_TRUE(finished.load());
  loop.run_until_complete(job);
  EXPECT_THROW(loop.run_in_executor(nullptr, [] {}), RuntimeError);
  ThreadPerJobExecutor explicit_one;
  EXPECT_EQ(loop.run_until_complete(loop.run_in_executor(&explicit_one, [] { return 3; })), 3);
}

TEST(WrapFutureTest, CompletionFromAnotherThreadArrivesOnTheLoop) {
  EventLoop loop;
  ConcurrentFuture<int> source;
  Future<int> wrapped = wrap_future(source, loop);
  std::thread producer([source]() mutable {
    std::this_thread::sleep_for(5ms);
    source.set_result(17);
  });
  EXPECT_EQ(loop.run_until_complete(wrapped), 17);
  producer.join();
}

TEST(WrapFutureTest, CancellingTheLoopSideCancelsAPendingSource) {
  EventLoop loop;
  ConcurrentFuture<int> source;
  Future<int> wrapped = wrap_future(source, loop);
  wrapped.cancel();
  loop.stop();
  loop.run_forever();  // done-callbacks run on the next iteration, as in asyncio
  EXPECT_TRUE(source.cancelled());
  ConcurrentFuture<int> started;
  Future<int> wrapped_started = wrap_future(started, loop);
  ASSERT_TRUE(started.set_running_or_notify_cancel());
  wrapped_started.cancel();
  loop.stop();
  loop.run_forever();
  EXPECT_FALSE(started.cancelled()) << "never after it started";
  started.set_result(1);
}

TEST(ConcurrentFutureTest, AFailingCallbackIsLoggedAndTheOthersStillRun) {
  testing::LogCapture log;
  ConcurrentFuture<int> f;
  int calls = 0;
  f.add_done_callback([&](ConcurrentFuture<int>&) { throw ValueError("callback broke"); });
  f.add_done_callback([&](ConcurrentFuture<int>&) { ++calls; });
  f.set_result(1);
  f.add_done_callback([&](ConcurrentFuture<int>&) { throw ValueError("late one broke"); });
  EXPECT_EQ(calls, 1);
  auto records = log.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_NE(records[0].message.find("aio::ValueError: callback broke"), std::string::npos);
  EXPECT_NE(records[1].message.find("aio::ValueError: late one broke"), std::string::npos);
}

TEST(ConcurrentFutureTest, BlockingResultTimeoutsAndCancellation) {
  ConcurrentFuture<int> f;
  EXPECT_THROW(f.result(0.01), TimeoutError);
  EXPECT_TRUE(f.cancel());
  EXPECT_THROW(f.result(), CancelledError);
  EXPECT_FALSE(f.set_running_or_notify_cancel());
  ConcurrentFuture<void> g;
  std::thread t([g]() mutable { g.set_exception(std::make_exception_ptr(ValueError("v"))); });
  EXPECT_THROW(g.result(5), ValueError);
  t.join();
  EXPECT_THROW(g.set_result(), InvalidStateError);
}

}  // namespace
}  // namespace aio
