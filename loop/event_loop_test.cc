// The kernel's behaviour, scenario by scenario, as asyncio 3.8 documents it. Runs once per
// poller backend (event_loop_test@epoll, event_loop_test@poll).
#include "loop/event_loop.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/logging.h"
#include "testing/fd_count.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::expect_same_as_cpython;
using ::aio::testing::join;
using ::aio::testing::LogCapture;
using ::aio::testing::Pipe;
using ::aio::testing::run_with_timeout;
using Strings = std::vector<std::string>;

TEST(EventLoopTest, UsesThePollerTheTestWasExpandedFor) {
  EventLoop loop;
  const char* forced = std::getenv("AIO_POLLER");
  ASSERT_NE(forced, nullptr);
  EXPECT_EQ(loop.poller_name(), forced);
  EXPECT_EQ(EventLoop(EventLoopOptions{.poller = PollerKind::kPoll}).poller_name(), "poll");
  EXPECT_EQ(EventLoop(EventLoopOptions{.poller = PollerKind::kEpoll}).poller_name(), "epoll");
}

// --- Running and stopping -------------------------------------------------------------------

TEST(EventLoopTest, StopBeforeRunForeverRunsOneIterationAndReturns) {
  EventLoop loop;
  Strings order;
  loop.call_soon([&] {
    order.push_back("a");
    loop.call_soon([&] { order.push_back("b"); });
  });
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(order, Strings{"a"});
  EXPECT_FALSE(loop.is_running());
  // The stop request was consumed: the next run goes on until stopped again.
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(order, (Strings{"a", "b"}));
}

TEST(EventLoopTest, StopInsideABatchFinishesThatBatchOnly) {
  EventLoop loop;
  Strings order;
  loop.call_soon([&] {
    order.push_back("stopper");
    loop.stop();
    loop.call_soon([&] { order.push_back("next-iteration"); });
  });
  loop.call_soon([&] { order.push_back("same-batch"); });
  loop.run_forever();
  EXPECT_EQ(order, (Strings{"stopper", "same-batch"}));
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(order, (Strings{"stopper", "same-batch", "next-iteration"}));
}

TEST(EventLoopTest, IsRunningOnlyInsideRunForever) {
  EventLoop loop;
  bool inside = false;
  EXPECT_EQ(EventLoop::running_loop(), nullptr);
  loop.call_soon([&] {
    inside = loop.is_running() && EventLoop::running_loop() == &loop;
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(inside);
  EXPECT_FALSE(loop.is_running());
  EXPECT_EQ(EventLoop::running_loop(), nullptr);
}

TEST(EventLoopTest, RunningARunningLoopOrASecondLoopIsRefused) {
  EventLoop loop;
  EventLoop other;
  std::string same, second;
  loop.call_soon([&] {
    same = error_message([&] { loop.run_forever(); });
    second = error_message([&] { other.run_forever(); });
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(same, "This event loop is already running");
  EXPECT_EQ(second, "Cannot run the event loop while another loop is running");
  EXPECT_FALSE(other.is_running());
}

TEST(EventLoopTest, CloseIsIdempotentRefusedWhileRunningAndReleasesEverything) {
  int fds_before = ::aio::testing::open_fd_count();
  auto captured = std::make_shared<int>(0);
  {
    EventLoop loop;
    EXPECT_GT(::aio::testing::open_fd_count(), fds_before);  // poller and wakeup fds
    std::string refused;
    loop.call_soon([&] {
      refused = error_message([&] { loop.close(); });
      loop.stop();
    });
    loop.run_forever();
    EXPECT_EQ(refused, "Cannot close a running event loop");

    bool ran = false;
    loop.call_soon([captured, &ran] { ran = true; });
    TimerHandle timer = loop.call_later(0, [captured, &ran] { ran = true; });
    Pipe pipe;
    loop.add_reader(pipe.read_fd, [captured] {});
    EXPECT_EQ(captured.use_count(), 4);
    loop.close();
    EXPECT_TRUE(loop.is_closed());
    EXPECT_EQ(captured.use_count(), 1) << "queued callbacks, timers and watchers are discarded";
    EXPECT_EQ(::aio::testing::open_fd_count(), fds_before + 2) << "only the test's pipe is left";
    loop.close();  // idempotent
    EXPECT_FALSE(ran);
    EXPECT_THROW(loop.run_forever(), RuntimeError);
  }
  EXPECT_EQ(::aio::testing::open_fd_count(), fds_before);
}

TEST(EventLoopTest, ClosedLoopRefusesSchedulingWithEventLoopIsClosed) {
  EventLoop loop;
  loop.close();
  const std::string closed = "Event loop is closed";
  EXPECT_EQ(error_message([&] { loop.call_soon([] {}); }), closed);
  EXPECT_EQ(error_message([&] { loop.call_soon_threadsafe([] {}); }), closed);
  EXPECT_EQ(error_message([&] { loop.call_later(1, [] {}); }), closed);
  EXPECT_EQ(error_message([&] { loop.call_at(loop.time(), [] {}); }), closed);
  EXPECT_EQ(error_message([&] { loop.add_reader(0, [] {}); }), closed);
  EXPECT_EQ(error_message([&] { loop.add_writer(1, [] {}); }), closed);
  EXPECT_EQ(error_message([&] { loop.run_forever(); }), closed);
  EXPECT_FALSE(loop.remove_reader(0));
  EXPECT_FALSE(loop.remove_writer(1));
  EXPECT_THROW(loop.call_soon([] {}), RuntimeError);
}

// --- Scheduling callbacks -------------------------------------------------------------------

TEST(EventLoopTest, CallSoonRunsInRegistrationOrderExactlyOnce) {
  EventLoop loop;
  std::vector<int> order;
  for (int i = 0; i < 100; ++i) loop.call_soon([&order, i] { order.push_back(i); });
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  loop.stop();
  loop.run_forever();  // nothing runs twice
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(EventLoopTest, CancelledHandleDoesNotRunAndReleasesItsCallbackAtOnce) {
  EventLoop loop;
  auto captured = std::make_shared<int>(0);
  bool ran = false;
  Handle handle = loop.call_soon([captured, &ran] { ran = true; });
  EXPECT_FALSE(handle.cancelled());
  handle.cancel();
  EXPECT_TRUE(handle.cancelled());
  EXPECT_EQ(captured.use_count(), 1);
  handle.cancel();  // no effect the second time
  loop.stop();
  loop.run_forever();
  EXPECT_FALSE(ran);
}

TEST(EventLoopTest, HandleReleasesItsCallbackOnceRun) {
  EventLoop loop;
  auto captured = std::make_shared<int>(0);
  Handle handle = loop.call_soon([captured] {});
  TimerHandle timer = loop.call_later(0, [captured] {});
  EXPECT_EQ(captured.use_count(), 3);
  loop.call_later(0.001, [&] { loop.stop(); });
  run_with_timeout(loop);
  EXPECT_EQ(captured.use_count(), 1) << "handles still held, callbacks gone";
  EXPECT_FALSE(handle.cancelled());
  EXPECT_FALSE(timer.cancelled());
  handle.cancel();  // after running: marks it, nothing else
  EXPECT_TRUE(handle.cancelled());
}

TEST(EventLoopTest, CallbackCancellingItsOwnHandleWhileRunningIsSafe) {
  EventLoop loop;
  Handle self;
  auto captured = std::make_shared<std::string>("alive");
  std::string seen;
  self = loop.call_soon([&, captured] {
    self.cancel();
    seen = *captured;  // the callback's captures must still be alive here
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(seen, "alive");
  EXPECT_EQ(captured.use_count(), 1);
}

TEST(EventLoopTest, OneIterationRunsReadyThenIoThenDueTimers) {
  // CPython's _run_once: the ready queue already holds call_soon callbacks; I/O callbacks are
  // appended after the poll, then expired timers; the whole batch runs in that order.
  EventLoop loop;
  Pipe pipe;
  ASSERT_EQ(write(pipe.write_fd, "x", 1), 1);
  Strings order;
  loop.call_later(0, [&] { order.push_back("timer"); });
  loop.add_reader(pipe.read_fd, [&] {
    order.push_back("reader");
    loop.remove_reader(pipe.read_fd);
  });
  loop.call_soon([&] { order.push_back("soon"); });
  usleep(2000);  // the timer is due before the poll
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(order, (Strings{"soon", "reader", "timer"}));
}

// --- Timers ---------------------------------------------------------------------------------

TEST(EventLoopTest, TimersFireInDeadlineOrderNeverEarly) {
  EventLoop loop;
  Strings order;
  std::vector<std::pair<double, double>> fired;  // (when, time at run)
  auto timer = [&](double delay, std::string name) {
    TimerHandle h = loop.call_later(delay, [&, name] { order.push_back(name); });
    double when = h.when();
    loop.call_at(when, [&, when] { fired.emplace_back(when, loop.time()); });
  };
  timer(0.030, "c");
  timer(0.010, "a");
  timer(0.020, "b");
  loop.call_later(0.05, [&] { loop.stop(); });
  run_with_timeout(loop);
  EXPECT_EQ(order, (Strings{"a", "b", "c"}));
  ASSERT_EQ(fired.size(), 3u);
  for (auto [when, at] : fired) EXPECT_GE(at, when) << "a timer fired early";
}

TEST(EventLoopTest, EqualDeadlinesFireInSchedulingOrder) {
  EventLoop loop;
  std::vector<int> order;
  double when = loop.time() + 0.001;
  for (int i = 0; i < 50; ++i) loop.call_at(when, [&order, i] { order.push_back(i); });
  loop.call_at(when + 0.001, [&] { loop.stop(); });
  run_with_timeout(loop);
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(EventLoopTest, PastDeadlinesAreKeptAndOrdered) {
  EventLoop loop;
  Strings order;
  double now = loop.time();
  loop.call_at(now - 1, [&] { order.push_back("minus1"); });
  loop.call_at(now - 2, [&] { order.push_back("minus2"); });
  loop.call_later(-5, [&] { order.push_back("minus5"); });
  loop.call_soon([&] { order.push_back("soon"); });
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(order, (Strings{"soon", "minus5", "minus2", "minus1"}));
}

TEST(EventLoopTest, TimerHandleWhenAndOrdering) {
  EventLoop loop;
  double before = loop.time();
  TimerHandle later = loop.call_later(10, [] {});
  TimerHandle at = loop.call_at(123.5, [] {});
  EXPECT_EQ(at.when(), 123.5);
  EXPECT_GE(later.when(), before + 10);
  EXPECT_LE(later.when(), loop.time() + 10);
  EXPECT_TRUE(at < later);
  EXPECT_FALSE(later < at);
  using namespace std::chrono_literals;
  TimerHandle chrono = loop.call_later(1500ms, [] {});
  EXPECT_NEAR(chrono.when() - loop.time(), 1.5, 0.1);
  EXPECT_THROW(loop.call_at(std::nan(""), [] {}), ValueError);
  EXPECT_THROW(loop.call_later(std::nan(""), [] {}), ValueError);
}

TEST(EventLoopTest, CancelledTimerDoesNotFireAndIsReleased) {
  EventLoop loop;
  auto captured = std::make_shared<int>(0);
  bool fired = false;
  TimerHandle timer = loop.call_later(0.001, [captured, &fired] { fired = true; });
  timer.cancel();
  EXPECT_TRUE(timer.cancelled());
  EXPECT_EQ(captured.use_count(), 1);
  loop.call_later(0.01, [&] { loop.stop(); });
  run_with_timeout(loop);
  EXPECT_FALSE(fired);
}

TEST(EventLoopTest, ManyCancelledTimersDoNotDelayLiveOnes) {
  EventLoop loop;
  std::vector<TimerHandle> timers;
  for (int i = 0; i < 1000; ++i) timers.push_back(loop.call_later(3600, [] {}));
  for (int i = 0; i < 900; ++i) timers[i].cancel();
  bool fired = false;
  loop.call_later(0.001, [&] {
    fired = true;
    loop.stop();
  });
  run_with_timeout(loop);
  EXPECT_TRUE(fired);
}

TEST(EventLoopTest, AbsurdDelaysDoNotOverflowOrBlockOtherWork) {
  EventLoop loop;
  bool huge_fired = false;
  loop.call_later(1e300, [&] { huge_fired = true; });
  loop.call_later(std::numeric_limits<double>::infinity(), [&] { huge_fired = true; });
  loop.call_at(std::numeric_limits<double>::max(), [&] { huge_fired = true; });
  int ticks = 0;
  loop.call_later(0.001, [&] { ++ticks; });
  loop.call_later(0.002, [&] {
    ++ticks;
    loop.stop();
  });
  run_with_timeout(loop);
  EXPECT_EQ(ticks, 2);
  EXPECT_FALSE(huge_fired);
}

TEST(EventLoopTest, TimeIsMonotonicSeconds) {
  EventLoop loop;
  double a = loop.time();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  double b = loop.time();
  EXPECT_GE(b - a, 0.004);
  EXPECT_LT(b - a, 5.0);
}

// --- call_soon_threadsafe -------------------------------------------------------------------

TEST(EventLoopTest, CallSoonThreadsafeWakesALoopBlockedInPoll) {
  EventLoop loop;
  bool ran = false;
  std::thread poster([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    loop.call_soon_threadsafe([&] {
      ran = true;
      loop.stop();
    });
  });
  // No timer at all: without the wakeup the loop would wait in poll forever. The watchdog
  // timer (10 s) only bounds the test.
  double start = loop.time();
  run_with_timeout(loop, 10);
  poster.join();
  EXPECT_TRUE(ran);
  EXPECT_LT(loop.time() - start, 5.0);
}

TEST(EventLoopTest, CallSoonThreadsafeStressWithTimersArmedAndCancelled) {
  EventLoop loop;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<int>> seen(kThreads);
  int total = 0;
  std::atomic<int> handles_cancelled{0};
  std::vector<TimerHandle> timers;
  // The loop keeps arming and cancelling timers while the posts arrive.
  std::function<void()> churn = [&] {
    timers.push_back(loop.call_later(0.0005, [] {}));
    timers.push_back(loop.call_later(3600, [] {}));
    timers.back().cancel();
    if (timers.size() > 200) timers.erase(timers.begin(), timers.begin() + 100);
    if (total < kThreads * kPerThread) loop.call_later(0.0001, churn);
  };
  loop.call_soon(churn);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Handle h = loop.call_soon_threadsafe([&, t, i] {
          seen[t].push_back(i);
          if (++total == kThreads * kPerThread) loop.stop();
        });
        if (!h) handles_cancelled++;
      }
    });
  }
  run_with_timeout(loop, 60);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(total, kThreads * kPerThread);
  EXPECT_EQ(handles_cancelled.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) ASSERT_EQ(seen[t][i], i) << "per-thread FIFO order";
  }
}

// CPython appends call_soon and call_soon_threadsafe callbacks to one ready queue.
constexpr const char* kThreadsafeOrderScenario = R"py(
import asyncio
order = []
loop = asyncio.new_event_loop()
def inner():
    order.append("inner")
    loop.call_soon_threadsafe(order.append, "ts2")
    loop.call_soon(order.append, "cs2")
    loop.call_soon_threadsafe(order.append, "ts3")
    loop.call_soon(loop.stop)
loop.call_soon_threadsafe(order.append, "ts1")
loop.call_soon(order.append, "cs1")
loop.call_soon(inner)
loop.run_forever()
loop.close()
print(" ".join(order))
)py";

TEST(EventLoopTest, CallSoonThreadsafeOnTheLoopThreadKeepsFifoWithCallSoon) {
  EventLoop loop;
  std::vector<std::string> order;
  auto append = [&](std::string name) { return [&order, name] { order.push_back(name); }; };
  loop.call_soon_threadsafe(append("ts1"));  // before running: the creating thread's loop
  loop.call_soon(append("cs1"));
  loop.call_soon([&] {
    order.push_back("inner");
    loop.call_soon_threadsafe(append("ts2"));  // while running, on the running thread
    loop.call_soon(append("cs2"));
    loop.call_soon_threadsafe(append("ts3"));
    loop.call_soon([&] { loop.stop(); });
  });
  run_with_timeout(loop);
  EXPECT_EQ(join(order), "ts1 cs1 inner ts2 cs2 ts3");
  expect_same_as_cpython(join(order), kThreadsafeOrderScenario);
}

TEST(EventLoopTest, CallSoonThreadsafeFromTheThreadThatRunsTheLoopInTheBackground) {
  // Made on this thread, run on another: then that thread is the loop's own, and this one's
  // calls go through the thread-safe queue (and wake the loop).
  EventLoop loop;
  std::vector<std::string> order;
  std::atomic<bool> started{false};
  std::thread runner([&] {
    loop.call_soon([&] { started = true; });
    run_with_timeout(loop);
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  loop.call_soon_threadsafe([&] {
    order.push_back("from-main");
    loop.call_soon_threadsafe([&] { order.push_back("ts"); });
    loop.call_soon([&] {
      order.push_back("cs");
      loop.stop();
    });
  });
  runner.join();
  EXPECT_EQ(join(order), "from-main ts cs");
}

TEST(EventLoopTest, CallSoonThreadsafeFromManyThreadsAfterCloseIsRefused) {
  EventLoop loop;
  loop.close();
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      try {
        loop.call_soon_threadsafe([] {});
      } catch (const RuntimeError&) {
        refused++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(refused.load(), 2);
}

// --- fd watchers ----------------------------------------------------------------------------

TEST(EventLoopTest, ReaderIsCalledWhileReadableUntilRemoved) {
  EventLoop loop;
  Pipe pipe;
  std::string received;
  int calls = 0;
  loop.add_reader(pipe.read_fd, [&] {
    ++calls;
    char buf[64];
    ssize_t n = read(pipe.read_fd, buf, sizeof buf);
    if (n > 0) received.append(buf, n);
    if (received == "hello world") {
      EXPECT_TRUE(loop.remove_reader(pipe.read_fd));
      loop.stop();
    }
  });
  loop.call_soon([&] { ASSERT_EQ(write(pipe.write_fd, "hello ", 6), 6); });
  loop.call_later(0.005, [&] { ASSERT_EQ(write(pipe.write_fd, "world", 5), 5); });
  run_with_timeout(loop);
  EXPECT_EQ(received, "hello world");
  EXPECT_GE(calls, 2);
  EXPECT_FALSE(loop.remove_reader(pipe.read_fd)) << "already removed";
}

TEST(EventLoopTest, WriterIsCalledWhenWritable) {
  EventLoop loop;
  Pipe pipe;
  int calls = 0;
  loop.add_writer(pipe.write_fd, [&] {
    if (++calls == 3) {
      EXPECT_TRUE(loop.remove_writer(pipe.write_fd));
      loop.stop();
    }
  });
  run_with_timeout(loop);
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(loop.remove_writer(pipe.write_fd));
}

TEST(EventLoopTest, ReaderAndWriterOnTheSameFdAreIndependent) {
  EventLoop loop;
  // A socketpair end is both readable and writable.
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
  ASSERT_EQ(write(pair[1], "x", 1), 1);
  Strings order;
  loop.add_reader(pair[0], [&] { order.push_back("reader"); });
  loop.add_writer(pair[0], [&] { order.push_back("writer"); });
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(order, (Strings{"reader", "writer"}));
  EXPECT_TRUE(loop.remove_writer(pair[0]));
  order.clear();
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(order, Strings{"reader"});
  EXPECT_TRUE(loop.remove_reader(pair[0]));
  close(pair[0]);
  close(pair[1]);
}

TEST(EventLoopTest, AddReaderTwiceReplacesTheCallback) {
  EventLoop loop;
  Pipe pipe;
  ASSERT_EQ(write(pipe.write_fd, "x", 1), 1);
  auto first_captures = std::make_shared<int>(0);
  Strings order;
  loop.add_reader(pipe.read_fd, [&, first_captures] { order.push_back("first"); });
  loop.add_reader(pipe.read_fd, [&] { order.push_back("second"); });
  EXPECT_EQ(first_captures.use_count(), 1) << "the replaced callback is released";
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(order, Strings{"second"});
  EXPECT_TRUE(loop.remove_reader(pipe.read_fd));
}

TEST(EventLoopTest, BadFileDescriptorsAreRefusedAndNothingIsRegistered) {
  EventLoop loop;
  EXPECT_EQ(error_message([&] { loop.add_reader(-1, [] {}); }), "Invalid file descriptor: -1");
  EXPECT_THROW(loop.add_writer(-5, [] {}), ValueError);
  EXPECT_THROW(loop.remove_reader(-1), ValueError);

  int closed_fd;
  {
    Pipe pipe;
    closed_fd = pipe.read_fd;
  }
  try {
    loop.add_reader(closed_fd, [] {});
    FAIL() << "a closed fd was accepted";
  } catch (const OSError& e) {
    EXPECT_EQ(e.err(), EBADF);
  }
  EXPECT_FALSE(loop.remove_reader(closed_fd)) << "nothing was registered";
  EXPECT_THROW(loop.add_writer(100000, [] {}), OSError);
  EXPECT_FALSE(loop.remove_writer(100000));
  EXPECT_FALSE(loop.remove_reader(123456));  // never seen
}

TEST(EventLoopTest, RemovalTakesEffectAtOnceEvenForAlreadyReadyFds) {
  EventLoop loop;
  Pipe a, b;
  ASSERT_EQ(write(a.write_fd, "x", 1), 1);
  ASSERT_EQ(write(b.write_fd, "x", 1), 1);
  Strings order;
  // Whichever runs first removes the other: it must not run in this iteration.
  loop.add_reader(a.read_fd, [&] {
    order.push_back("a");
    loop.remove_reader(b.read_fd);
  });
  loop.add_reader(b.read_fd, [&] {
    order.push_back("b");
    loop.remove_reader(a.read_fd);
  });
  loop.stop();
  loop.run_forever();
  ASSERT_EQ(order.size(), 1u);
  loop.remove_reader(a.read_fd);
  loop.remove_reader(b.read_fd);
}

TEST(EventLoopTest, ReaderRemovingItselfWhileRunningIsSafe) {
  EventLoop loop;
  Pipe pipe;
  ASSERT_EQ(write(pipe.write_fd, "x", 1), 1);
  auto captured = std::make_shared<std::string>("alive");
  std::string seen;
  loop.add_reader(pipe.read_fd, [&, captured] {
    loop.remove_reader(pipe.read_fd);
    seen = *captured;  // still alive until the callback returns
    loop.stop();
  });
  captured.reset();
  loop.run_forever();
  EXPECT_EQ(seen, "alive");
}

TEST(EventLoopTest, FdNumberReusedAfterCloseWithoutRemoveCanBeWatchedAgain) {
  EventLoop loop;
  auto pipe = std::make_unique<Pipe>();
  int fd = pipe->read_fd;
  loop.add_reader(fd, [] {});
  pipe.reset();  // closed while still watched
  Pipe again;
  ASSERT_EQ(again.read_fd, fd) << "the kernel hands out the lowest free number";
  bool called = false;
  loop.add_reader(again.read_fd, [&] {
    called = true;
    loop.stop();
  });
  ASSERT_EQ(write(again.write_fd, "x", 1), 1);
  run_with_timeout(loop);
  EXPECT_TRUE(called);
  EXPECT_TRUE(loop.remove_reader(again.read_fd));
}

TEST(EventLoopTest, RegularFilesFollowThePoller) {
  EventLoop loop;
  char path[] = "/tmp/aio_regular_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  if (loop.poller_name() == "epoll") {
    EXPECT_THROW(loop.add_reader(fd, [] {}), PermissionError);  // epoll: EPERM
    EXPECT_FALSE(loop.remove_reader(fd));
  } else {
    bool called = false;
    loop.add_reader(fd, [&] { called = true; });  // poll: always ready
    loop.stop();
    loop.run_forever();
    EXPECT_TRUE(called);
    EXPECT_TRUE(loop.remove_reader(fd));
  }
  close(fd);
}

// --- Errors ---------------------------------------------------------------------------------

TEST(EventLoopTest, CallbackExceptionGoesToTheHandlerAndTheLoopGoesOn) {
  EventLoop loop;
  std::vector<ExceptionContext> contexts;
  loop.set_exception_handler([&](EventLoop& l, const ExceptionContext& c) {
    EXPECT_EQ(&l, &loop);
    contexts.push_back(c);
  });
  bool after = false;
  Handle failing = loop.call_soon([] { throw ValueError("boom"); });
  loop.call_soon([&] {
    after = true;
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(after);
  ASSERT_EQ(contexts.size(), 1u);
  EXPECT_EQ(contexts[0].message.rfind("Exception in callback ", 0), 0u) << contexts[0].message;
  EXPECT_EQ(describe_exception(contexts[0].exception), "aio::ValueError: boom");
  EXPECT_TRUE(contexts[0].handle == failing);
}

TEST(EventLoopTest, DefaultHandlerLogsMessageHandleAndException) {
  LogCapture log;
  EventLoop loop;
  EXPECT_FALSE(loop.get_exception_handler());
  loop.call_soon([] { throw std::runtime_error("kaput"); });
  loop.stop();
  loop.run_forever();
  auto records = log.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::kError);
  const std::string& text = records[0].message;
  EXPECT_EQ(text.rfind("Exception in callback ", 0), 0u) << text;
  EXPECT_NE(text.find("\nhandle: <Handle "), std::string::npos) << text;
  EXPECT_NE(text.find("\nstd::runtime_error: kaput"), std::string::npos) << text;
}

TEST(EventLoopTest, DefaultHandlerFormatsContextKeysInOrder) {
  LogCapture log;
  EventLoop loop;
  ExceptionContext context;
  context.details["transport"] = "<Transport fd=7>";
  context.details["protocol"] = "<Protocol>";
  context.exception = std::make_exception_ptr(OSError(EPIPE));
  loop.call_exception_handler(context);
  auto records = log.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message,
            "Unhandled exception in event loop\n"
            "protocol: <Protocol>\n"
            "transport: <Transport fd=7>\n"
            "aio::OSError: [Errno 32] Broken pipe");
}

TEST(EventLoopTest, ThrowingHandlerIsReportedByTheDefaultOneAndTheLoopGoesOn) {
  LogCapture log;
  EventLoop loop;
  loop.set_exception_handler(
      [](EventLoop&, const ExceptionContext&) { throw RuntimeError("handler broke"); });
  bool after = false;
  loop.call_soon([] { throw ValueError("first"); });
  loop.call_soon([&] {
    after = true;
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(after);
  auto records = log.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message.rfind("Unhandled error in exception handler\n", 0), 0u);
  EXPECT_NE(records[0].message.find("context: Exception in callback"), std::string::npos);
  EXPECT_NE(records[0].message.find("aio::RuntimeError: handler broke"), std::string::npos);
}

TEST(EventLoopTest, SettingAnEmptyHandlerRestoresTheDefault) {
  LogCapture log;
  EventLoop loop;
  int custom_calls = 0;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext&) { ++custom_calls; });
  EXPECT_TRUE(loop.get_exception_handler());
  loop.call_exception_handler({.message = "one"});
  loop.set_exception_handler(nullptr);
  EXPECT_FALSE(loop.get_exception_handler());
  loop.call_exception_handler({.message = "two"});
  EXPECT_EQ(custom_calls, 1);
  ASSERT_EQ(log.records().size(), 1u);
  EXPECT_EQ(log.records()[0].message, "two");
}

TEST(EventLoopTest, HandlerMayDeferToTheDefaultHandler) {
  LogCapture log;
  EventLoop loop;
  loop.set_exception_handler([](EventLoop& l, const ExceptionContext& c) {
    ExceptionContext copy = c;
    copy.message = "custom: " + c.message;
    l.default_exception_handler(copy);
  });
  loop.call_exception_handler({.message = "disk full"});
  ASSERT_EQ(log.records().size(), 1u);
  EXPECT_EQ(log.records()[0].message, "custom: disk full");
}

TEST(EventLoopTest, InterruptEscapesRunForeverAndLeavesTheLoopUsable) {
  EventLoop loop;
  Strings order;
  loop.call_soon([&] { order.push_back("before"); });
  loop.call_soon([] { throw KeyboardInterrupt(); });
  loop.call_soon([&] { order.push_back("after"); });
  EXPECT_THROW(loop.run_forever(), KeyboardInterrupt);
  EXPECT_FALSE(loop.is_running());
  EXPECT_EQ(EventLoop::running_loop(), nullptr);
  EXPECT_EQ(order, Strings{"before"});
  // The rest of the batch is still queued; no stale stop request.
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(order, (Strings{"before", "after"}));

  loop.call_soon([] { throw SystemExit(3); });
  try {
    loop.run_forever();
    FAIL();
  } catch (const SystemExit& e) {
    EXPECT_EQ(e.code(), 3);
  }
}

TEST(EventLoopTest, InterruptFromAnExceptionHandlerPropagates) {
  EventLoop loop;
  loop.set_exception_handler([](EventLoop&, const ExceptionContext&) { throw SystemExit(1); });
  loop.call_soon([] { throw ValueError("x"); });
  EXPECT_THROW(loop.run_forever(), SystemExit);
}

// --- Debug mode -----------------------------------------------------------------------------

TEST(EventLoopTest, DebugModeFromEnvironmentAndSetter) {
  {
    EventLoop loop;
    EXPECT_FALSE(loop.get_debug());
    loop.set_debug(true);
    EXPECT_TRUE(loop.get_debug());
  }
  setenv("AIO_DEBUG", "1", 1);
  EventLoop debug_loop;
  unsetenv("AIO_DEBUG");
  EXPECT_TRUE(debug_loop.get_debug());
  setenv("AIO_DEBUG", "", 1);
  EventLoop empty_value_loop;
  unsetenv("AIO_DEBUG");
  EXPECT_FALSE(empty_value_loop.get_debug());
}

TEST(EventLoopTest, DebugModeWarnsAboutSlowCallbacks) {
  LogCapture log;
  EventLoop loop;
  loop.set_debug(true);
  loop.slow_callback_duration = 0.01;
  loop.call_soon([] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); });
  loop.call_soon([] {});  // fast: no warning
  loop.stop();
  loop.run_forever();
  auto records = log.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::kWarning);
  EXPECT_EQ(records[0].message.rfind("Executing <Handle ", 0), 0u) << records[0].message;
  EXPECT_NE(records[0].message.find("created at "), std::string::npos);
  EXPECT_NE(records[0].message.find("event_loop_test.cc:"), std::string::npos);
  EXPECT_NE(records[0].message.find(" seconds"), std::string::npos);

  loop.set_debug(false);
  loop.call_soon([] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); });
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(log.records().size(), 1u) << "no warnings outside debug mode";
}

TEST(EventLoopTest, DebugModeRefusesNonThreadSafeCallsFromOtherThreads) {
  EventLoop loop;
  loop.set_debug(true);
  std::string from_thread;
  loop.call_soon([&] {
    std::thread other([&] {
      from_thread = error_message([&] { loop.call_soon([] {}); });
      from_thread += "|" + error_message([&] { loop.call_later(1, [] {}); });
    });
    other.join();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(from_thread,
            "Non-thread-safe operation invoked on an event loop other than the current one|"
            "Non-thread-safe operation invoked on an event loop other than the current one");
}

TEST(EventLoopTest, HandleOutlivingItsLoopStillHasARepr) {
  Handle handle;
  {
    EventLoop loop;
    loop.set_debug(true);
    handle = loop.call_soon([] {});
  }
  EXPECT_EQ(handle.repr().rfind("<Handle ", 0), 0u);
  EXPECT_NE(handle.repr().find("created at "), std::string::npos);
  handle.cancel();
  EXPECT_TRUE(handle.cancelled());
}

TEST(EventLoopTest, ThreadsafeBatchesNeverLoseAWakeup) {
  // Batches posted while the loop takes the previous one: the race that can leave the pending
  // flag set with the eventfd drained. Each batch must arrive without any other event.
  EventLoop loop;
  std::atomic<int> done{0};
  constexpr int kRounds = 2000, kBatch = 16;
  std::thread producer([&] {
    for (int round = 0; round < kRounds; ++round) {
      for (int i = 0; i < kBatch; ++i) loop.call_soon_threadsafe([&] { ++done; });
      while (done.load() < (round + 1) * kBatch) std::this_thread::yield();
    }
    loop.call_soon_threadsafe([&] { loop.stop(); });
  });
  // A lost wakeup leaves the loop asleep: the watchdog (20 s) ends the run and the test fails.
  bool stopped_in_time = run_with_timeout(loop, 20);
  if (!stopped_in_time) {
    loop.call_soon_threadsafe([&] { loop.stop(); });  // let the producer finish its rounds
    while (done.load() < kRounds * kBatch) {
      loop.stop();
      loop.run_forever();
    }
  }
  producer.join();
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(done.load(), kRounds * kBatch);
}

TEST(EventLoopTest, HandleReprShowsCallbackStateAndCreationSiteInDebugMode) {
  EventLoop loop;
  Handle plain = loop.call_soon([] {});
  EXPECT_EQ(plain.repr().rfind("<Handle ", 0), 0u);
  EXPECT_EQ(plain.repr().find("created at"), std::string::npos);
  loop.set_debug(true);
  int line = __LINE__ + 1;
  TimerHandle timer = loop.call_at(5.0, [] {});
  std::string repr = timer.repr();
  EXPECT_EQ(repr.rfind("<TimerHandle when=5.000000 ", 0), 0u) << repr;
  EXPECT_NE(repr.find("event_loop_test.cc:" + std::to_string(line) + ">"), std::string::npos)
      << repr;
  EXPECT_EQ(timer.source_location().line(), static_cast<unsigned>(line));
  timer.cancel();
  EXPECT_EQ(timer.repr().rfind("<TimerHandle when=5.000000 cancelled created at ", 0), 0u);
  EXPECT_EQ(Handle().repr(), "<Handle empty>");
}

TEST(EventLoopTest, DebugModeExceptionContextCarriesTheCreationSite) {
  EventLoop loop;
  loop.set_debug(true);
  ExceptionContext seen;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) { seen = c; });
  int line = __LINE__ + 1;
  loop.call_soon([] { throw ValueError("x"); });
  loop.stop();
  loop.run_forever();
  ASSERT_TRUE(seen.source_traceback.has_value());
  EXPECT_EQ(seen.source_traceback->line(), static_cast<unsigned>(line));
}

}  // namespace
}  // namespace aio
