// add_signal_handler / remove_signal_handler with real signals raised in this process: raise()
// (delivered synchronously to this thread), kill() from another thread while the loop sleeps,
// setitimer's SIGALRM; every validation error; dispositions after remove and close; two loops
// and a second thread. Runs on each poller.
#include "signals/signals.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using testing::error_message;
using testing::run_until;

// The disposition of `sig` right now.
struct sigaction disposition(int sig) {
  struct sigaction action;
  sigaction(sig, nullptr, &action);
  return action;
}

bool is_default(int sig) {
  struct sigaction action = disposition(sig);
  return !(action.sa_flags & SA_SIGINFO) && action.sa_handler == SIG_DFL;
}

// Puts SIG_DFL back for the signals a test touched, whatever happened in it.
class SignalsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int sig : {SIGUSR1, SIGUSR2, SIGALRM, SIGHUP}) signal(sig, SIG_DFL);
    struct itimerval off = {};
    setitimer(ITIMER_REAL, &off, nullptr);
  }
};

TEST_F(SignalsTest, RaisedSignalRunsTheCallbackOnTheLoopLater) {
  EventLoop loop;
  std::vector<std::string> events;
  add_signal_handler(loop, SIGUSR1, [&] {
    events.push_back("usr1");
    loop.stop();
  });
  ASSERT_EQ(raise(SIGUSR1), 0);
  EXPECT_TRUE(events.empty()) << "the callback ran inside the OS handler";
  EXPECT_TRUE(testing::run_with_timeout(loop));
  EXPECT_EQ(testing::join(events), "usr1");
  loop.close();
  EXPECT_TRUE(is_default(SIGUSR1));
}

TEST_F(SignalsTest, RunsAfterTheCallbacksQueuedBeforeItAsInAsyncio) {
  EventLoop loop;
  std::vector<std::string> events;
  add_signal_handler(loop, SIGUSR1, [&] {
    events.push_back("sig");
    loop.stop();
  });
  loop.call_soon([&] { events.push_back("A"); });
  raise(SIGUSR1);
  loop.call_soon([&] { events.push_back("B"); });
  EXPECT_TRUE(testing::run_with_timeout(loop));
  loop.close();
  testing::expect_same_as_cpython(testing::join(events), R"(
import asyncio, os, signal
loop = asyncio.new_event_loop()
events = []
def sig():
    events.append("sig"); loop.stop()
loop.add_signal_handler(signal.SIGUSR1, sig)
loop.call_soon(events.append, "A")
os.kill(os.getpid(), signal.SIGUSR1)
loop.call_soon(events.append, "B")
loop.run_forever()
loop.close()
print(" ".join(events))
)");
}

TEST_F(SignalsTest, EachDeliveryRunsTheCallbackOnce) {
  EventLoop loop;
  int runs = 0;
  add_signal_handler(loop, SIGUSR1, [&] { ++runs; });
  raise(SIGUSR1);
  raise(SIGUSR1);  // two deliveries (each handled before raise returns): two runs
  EXPECT_TRUE(run_until(loop, [&] { return runs >= 2; }));
  loop.call_later(0.02, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(runs, 2);
  loop.close();
}

TEST_F(SignalsTest, KillFromAnotherThreadWakesASleepingLoop) {
  EventLoop loop;
  pthread_t loop_thread = pthread_self();
  bool on_loop_thread = false;
  add_signal_handler(loop, SIGUSR2, [&] {
    on_loop_thread = pthread_equal(pthread_self(), loop_thread);
    loop.stop();
  });
  // Nothing else would wake the loop before the watchdog: no timers, no other fds.
  std::thread killer([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(getpid(), SIGUSR2);
  });
  double start = loop.time();
  EXPECT_TRUE(testing::run_with_timeout(loop, 30.0));
  killer.join();
  EXPECT_TRUE(on_loop_thread);
  EXPECT_LT(loop.time() - start, 20.0);
  loop.close();
}

TEST_F(SignalsTest, SetitimerAlarmsReachTheLoop) {
  EventLoop loop;
  int alarms = 0;
  add_signal_handler(loop, SIGALRM, [&] {
    if (++alarms == 3) loop.stop();
  });
  struct itimerval every_10ms = {{0, 10000}, {0, 10000}};
  ASSERT_EQ(setitimer(ITIMER_REAL, &every_10ms, nullptr), 0);
  EXPECT_TRUE(testing::run_with_timeout(loop, 30.0));
  struct itimerval off = {};
  setitimer(ITIMER_REAL, &off, nullptr);
  EXPECT_EQ(alarms, 3);
  loop.close();
}

TEST_F(SignalsTest, TheCallbackMayUseTheLoopAndRemoveItsOwnHandler) {
  EventLoop loop;
  std::vector<std::string> events;
  add_signal_handler(loop, SIGUSR1, [&] {
    events.push_back("usr1");
    events.push_back(remove_signal_handler(loop, SIGUSR1) ? "removed" : "not removed");
    loop.call_soon([&] {
      events.push_back("soon");
      loop.stop();
    });
  });
  raise(SIGUSR1);
  EXPECT_TRUE(testing::run_with_timeout(loop));
  EXPECT_EQ(testing::join(events), "usr1 removed soon");
  EXPECT_TRUE(is_default(SIGUSR1));
  loop.close();
}

TEST_F(SignalsTest, ASecondAddReplacesTheHandler) {
  EventLoop loop;
  std::vector<std::string> events;
  add_signal_handler(loop, SIGUSR1, [&] { events.push_back("first"); });
  add_signal_handler(loop, SIGUSR1, [&] {
    events.push_back("second");
    loop.stop();
  });
  raise(SIGUSR1);
  EXPECT_TRUE(testing::run_with_timeout(loop));
  EXPECT_EQ(testing::join(events), "second");
  loop.close();
}

TEST_F(SignalsTest, ADeliveryQueuedBeforeRemovalStillRunsAsInAsyncio) {
  EventLoop loop;
  std::vector<std::string> events;
  // Both bytes are read in one drain; SIGUSR2's callback runs first and removes SIGUSR1's,
  // whose run was already queued (asyncio does not cancel it either).
  add_signal_handler(loop, SIGUSR2, [&] {
    events.push_back("usr2");
    remove_signal_handler(loop, SIGUSR1);
  });
  add_signal_handler(loop, SIGUSR1, [&] {
    events.push_back("usr1");
    loop.stop();
  });
  raise(SIGUSR2);
  raise(SIGUSR1);
  EXPECT_TRUE(testing::run_with_timeout(loop));
  loop.close();
  testing::expect_same_as_cpython(testing::join(events), R"(
import asyncio, os, signal
loop = asyncio.new_event_loop()
events = []
def usr2():
    events.append("usr2"); loop.remove_signal_handler(signal.SIGUSR1)
def usr1():
    events.append("usr1"); loop.stop()
loop.add_signal_handler(signal.SIGUSR2, usr2)
loop.add_signal_handler(signal.SIGUSR1, usr1)
os.kill(os.getpid(), signal.SIGUSR2)
os.kill(os.getpid(), signal.SIGUSR1)
loop.run_forever()
loop.close()
print(" ".join(events))
)");
}

TEST_F(SignalsTest, AnExceptionInTheCallbackGoesToTheExceptionHandler) {
  EventLoop loop;
  std::vector<std::string> messages;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& context) {
    messages.push_back(context.message + " / " + describe_exception(context.exception));
  });
  int runs = 0;
  add_signal_handler(loop, SIGUSR1, [&] {
    if (++runs == 2) loop.stop();
    throw ValueError("bad signal day");
  });
  raise(SIGUSR1);
  raise(SIGUSR1);
  EXPECT_TRUE(testing::run_with_timeout(loop));
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_NE(messages[0].find("Exception in callback"), std::string::npos) << messages[0];
  EXPECT_NE(messages[0].find("aio::ValueError: bad signal day"), std::string::npos) << messages[0];
  loop.close();
}

TEST_F(SignalsTest, InvalidSignalNumbersAreValueErrors) {
  EventLoop loop;
  for (int sig : {0, -1, NSIG, NSIG + 1, 32, 33}) {
    std::string expected = "invalid signal number " + std::to_string(sig);
    EXPECT_THROW(add_signal_handler(loop, sig, [] {}), ValueError);
    EXPECT_EQ(error_message([&] { add_signal_handler(loop, sig, [] {}); }), expected);
    EXPECT_THROW(remove_signal_handler(loop, sig), ValueError);
    EXPECT_EQ(error_message([&] { remove_signal_handler(loop, sig); }), expected);
  }
  loop.close();
  // The number is checked first, as asyncio's _check_signal comes before _check_closed.
  EXPECT_EQ(error_message([&] { add_signal_handler(loop, 0, [] {}); }), "invalid signal number 0");
}

TEST_F(SignalsTest, SigkillAndSigstopCannotBeCaughtAndRemovingThemIsFalse) {
  EventLoop loop;
  bool usr1 = false;
  add_signal_handler(loop, SIGUSR1, [&] {
    usr1 = true;
    loop.stop();
  });
  for (int sig : {SIGKILL, SIGSTOP}) {
    EXPECT_THROW(add_signal_handler(loop, sig, [] {}), RuntimeError);
    EXPECT_EQ(error_message([&] { add_signal_handler(loop, sig, [] {}); }),
              "sig " + std::to_string(sig) + " cannot be caught");
    EXPECT_FALSE(remove_signal_handler(loop, sig));
  }
  // The failed sigaction changed nothing: the other handler still works.
  raise(SIGUSR1);
  EXPECT_TRUE(testing::run_with_timeout(loop));
  EXPECT_TRUE(usr1);
  EXPECT_TRUE(remove_signal_handler(loop, SIGUSR1));
  loop.close();
}

TEST_F(SignalsTest, NoFdForTheWakeupPipeIsARuntimeError) {
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  // ASan/UBSan's runtime opens /proc files while an exception is thrown: at the fd limit it
  // fails its own checks. The default and TSan builds run this test.
  GTEST_SKIP() << "ASan's runtime needs fds at the fd limit";
#endif
#endif
  EventLoop loop;
  // The lowest free fd number: with the limit just above it, one fd can be made but not the
  // pipe's two (and ASan's runtime still has the one it needs while the error is thrown).
  int lowest_free = dup(0);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free) + 1;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::string message = error_message([&] { add_signal_handler(loop, SIGUSR1, [] {}); });
  bool runtime_error = false;
  try {
    add_signal_handler(loop, SIGUSR1, [] {});
  } catch (const RuntimeError&) {
    runtime_error = true;
  }
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_TRUE(runtime_error);
  EXPECT_EQ(message, "[Errno 24] Too many open files: pipe2");
  EXPECT_TRUE(is_default(SIGUSR1)) << "nothing was installed";
  // With fds again, it works.
  bool usr1 = false;
  add_signal_handler(loop, SIGUSR1, [&] {
    usr1 = true;
    loop.stop();
  });
  raise(SIGUSR1);
  EXPECT_TRUE(testing::run_with_timeout(loop));
  EXPECT_TRUE(usr1);
  loop.close();
}

TEST_F(SignalsTest, AClosedLoopRefusesAndRemovesNothing) {
  EventLoop loop;
  add_signal_handler(loop, SIGUSR1, [] {});
  loop.close();
  EXPECT_EQ(error_message([&] { add_signal_handler(loop, SIGUSR1, [] {}); }),
            "Event loop is closed");
  EXPECT_THROW(add_signal_handler(loop, SIGUSR1, [] {}), RuntimeError);
  EXPECT_FALSE(remove_signal_handler(loop, SIGUSR1));
}

TEST_F(SignalsTest, RemoveRestoresTheDefaultAndReportsWhetherThereWasAHandler) {
  EventLoop loop;
  EXPECT_FALSE(remove_signal_handler(loop, SIGUSR1));
  add_signal_handler(loop, SIGUSR1, [] {});
  struct sigaction installed = disposition(SIGUSR1);
  EXPECT_NE(installed.sa_handler, SIG_DFL);
  EXPECT_TRUE(installed.sa_flags & SA_RESTART) << "asyncio: siginterrupt(sig, False)";
  EXPECT_TRUE(remove_signal_handler(loop, SIGUSR1));
  EXPECT_TRUE(is_default(SIGUSR1));
  EXPECT_FALSE(remove_signal_handler(loop, SIGUSR1));
  loop.close();
}

std::atomic<int> g_own_handler_runs{0};
void own_handler(int) { g_own_handler_runs.fetch_add(1); }

TEST_F(SignalsTest, CloseRestoresEveryDispositionTheLoopReplaced) {
  struct sigaction own = {};
  own.sa_handler = own_handler;
  sigemptyset(&own.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &own, nullptr), 0);
  signal(SIGUSR2, SIG_IGN);
  {
    EventLoop loop;
    bool usr1 = false;
    add_signal_handler(loop, SIGUSR1, [&] {
      usr1 = true;
      loop.stop();
    });
    add_signal_handler(loop, SIGUSR2, [] {});
    add_signal_handler(loop, SIGHUP, [] {});
    raise(SIGUSR1);
    EXPECT_TRUE(testing::run_with_timeout(loop));
    EXPECT_TRUE(usr1);
    EXPECT_EQ(g_own_handler_runs.load(), 0) << "the loop's handler replaced the program's";
    loop.close();
    EXPECT_EQ(disposition(SIGUSR1).sa_handler, own_handler);
    EXPECT_EQ(disposition(SIGUSR2).sa_handler, SIG_IGN);
    EXPECT_TRUE(is_default(SIGHUP));
  }
  raise(SIGUSR1);
  EXPECT_EQ(g_own_handler_runs.load(), 1);
}

TEST_F(SignalsTest, DestroyingAnUnclosedLoopRestoresToo) {
  {
    EventLoop loop;
    add_signal_handler(loop, SIGUSR1, [] {});
  }
  EXPECT_TRUE(is_default(SIGUSR1));
}

TEST_F(SignalsTest, OnlyOneLoopOwnsASignal) {
  EventLoop first;
  EventLoop second;
  add_signal_handler(first, SIGUSR1, [] {});
  EXPECT_EQ(error_message([&] { add_signal_handler(second, SIGUSR1, [] {}); }),
            "sig " + std::to_string(SIGUSR1) + " is handled by another event loop");
  EXPECT_THROW(add_signal_handler(second, SIGUSR1, [] {}), RuntimeError);
  EXPECT_FALSE(remove_signal_handler(second, SIGUSR1));
  // Other signals are free, and once the first loop closes the signal is.
  bool usr2 = false;
  add_signal_handler(second, SIGUSR2, [&] { usr2 = true; });
  first.close();
  bool usr1 = false;
  add_signal_handler(second, SIGUSR1, [&] { usr1 = true; });
  raise(SIGUSR1);
  raise(SIGUSR2);
  EXPECT_TRUE(run_until(second, [&] { return usr1 && usr2; }));
  second.close();
  EXPECT_TRUE(is_default(SIGUSR1));
  EXPECT_TRUE(is_default(SIGUSR2));
}

TEST_F(SignalsTest, ALoopInASecondThreadIsRefused) {
  EventLoop main_loop;
  add_signal_handler(main_loop, SIGUSR2, [] {});
  std::string add_error, remove_none, remove_other;
  std::thread worker([&] {
    EventLoop loop;
    add_error = error_message([&] { add_signal_handler(loop, SIGUSR1, [] {}); });
    remove_none = remove_signal_handler(loop, SIGUSR1) ? "true" : "false";
    // A handler that exists, removed off the main thread: asyncio's signal.signal refuses.
    remove_other = error_message([&] { remove_signal_handler(main_loop, SIGUSR2); });
    loop.close();
  });
  worker.join();
  EXPECT_EQ(add_error, "set_wakeup_fd only works in main thread");
  EXPECT_EQ(remove_none, "false");
  EXPECT_EQ(remove_other, "signal only works in main thread");
  EXPECT_TRUE(is_default(SIGUSR1));
  EXPECT_TRUE(remove_signal_handler(main_loop, SIGUSR2));  // untouched by the refusal
  main_loop.close();
}

TEST_F(SignalsTest, ALoopClosedOnAnotherThreadStillRestores) {
  auto loop = std::make_unique<EventLoop>();
  add_signal_handler(*loop, SIGUSR1, [] {});
  std::thread closer([&] { loop->close(); });
  closer.join();
  EXPECT_TRUE(is_default(SIGUSR1));
}

TEST_F(SignalsTest, ABurstLargerThanThePipeStillRunsOnceMore) {
  long capacity = 0;
  {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    capacity = fcntl(fds[1], F_GETPIPE_SZ);
    close(fds[0]);
    close(fds[1]);
  }
  ASSERT_GT(capacity, 0);
  EventLoop loop;
  long runs = 0;
  add_signal_handler(loop, SIGUSR1, [&] { ++runs; });
  // Every raise writes one byte; once the pipe is full the rest only set the overflow flag.
  const long burst = capacity + 1000;
  for (long i = 0; i < burst; ++i) raise(SIGUSR1);
  EXPECT_TRUE(run_until(loop, [&] { return runs > 0; }));
  loop.call_later(0.05, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(runs, capacity + 1) << "one run per byte the pipe held, plus one for the overflow";
  loop.close();
}

void no_op(int) {}

TEST_F(SignalsTest, SignalsWithoutSaRestartDoNotMakeThePollerFail) {
  // A program's own handler installed without SA_RESTART makes epoll_wait/poll fail with
  // EINTR; the loop must treat that as "no events" and keep its timers.
  struct sigaction interrupting = {};
  interrupting.sa_handler = no_op;
  sigemptyset(&interrupting.sa_mask);
  ASSERT_EQ(sigaction(SIGALRM, &interrupting, nullptr), 0);
  struct itimerval every_ms = {{0, 1000}, {0, 1000}};
  ASSERT_EQ(setitimer(ITIMER_REAL, &every_ms, nullptr), 0);
  EventLoop loop;
  bool fired = false;
  loop.call_later(0.1, [&] {
    fired = true;
    loop.stop();
  });
  EXPECT_NO_THROW(testing::run_with_timeout(loop));
  struct itimerval off = {};
  setitimer(ITIMER_REAL, &off, nullptr);
  EXPECT_TRUE(fired);
  loop.close();
}

// --- A coroutine is not a signal callback (compile-time) -------------------------------------

Coro<void> a_coroutine() { co_return; }
using CoroutineFunction = decltype([] { return a_coroutine(); });
using PlainCallback = decltype([] {});

template <class F>
concept Addable = requires(EventLoop& loop, F f) { add_signal_handler(loop, SIGUSR1, f); };

static_assert(Addable<PlainCallback>);
static_assert(Addable<void (*)()>);
static_assert(!Addable<Coro<void>>, "a coroutine object is not a callback");
static_assert(!Addable<CoroutineFunction>, "a coroutine function is refused");
static_assert(!Addable<int (*)()>, "the callback returns nothing");
static_assert(!Addable<void (*)(int)>, "the callback takes no arguments");

TEST_F(SignalsTest, AMoveOnlyCallbackIsAccepted) {
  EventLoop loop;
  auto owned = std::make_unique<int>(7);
  int seen = 0;
  add_signal_handler(loop, SIGUSR1, [&, owned = std::move(owned)] {
    seen = *owned;
    loop.stop();
  });
  raise(SIGUSR1);
  EXPECT_TRUE(testing::run_with_timeout(loop));
  EXPECT_EQ(seen, 7);
  loop.close();
}

}  // namespace
}  // namespace aio
