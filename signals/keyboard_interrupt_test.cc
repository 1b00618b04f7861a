// Ctrl-C in this process (loop/keyboard_interrupt.h): a SIGINT while a loop runs on the main
// thread ends the run with KeyboardInterrupt (run_forever, run_until_complete, aio::run), the
// loop stays usable, SIG_DFL is back after the run; a program's own SIGINT disposition and
// add_signal_handler(SIGINT) take precedence; a loop on another thread leaves SIGINT alone.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "signals/signals.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

struct sigaction disposition(int sig) {
  struct sigaction action;
  sigaction(sig, nullptr, &action);
  return action;
}

bool sigint_is_default() {
  struct sigaction action = disposition(SIGINT);
  return !(action.sa_flags & SA_SIGINFO) && action.sa_handler == SIG_DFL;
}

class KeyboardInterruptTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sigint_is_default()); }
  void TearDown() override { signal(SIGINT, SIG_DFL); }
};

TEST_F(KeyboardInterruptTest, SigintDuringRunForeverRaisesKeyboardInterrupt) {
  EventLoop loop;
  std::vector<std::string> events;
  bool installed_during_run = false;
  loop.call_soon([&] {
    installed_during_run = !sigint_is_default();
    raise(SIGINT);  // handled at once: only a flag and an eventfd write
    events.push_back("after raise");
    loop.call_soon([&] { events.push_back("queued by the interrupted iteration"); });
  });
  EXPECT_THROW(loop.run_forever(), KeyboardInterrupt);
  EXPECT_TRUE(installed_during_run);
  EXPECT_TRUE(sigint_is_default()) << "SIG_DFL is back once the run is over";
  EXPECT_FALSE(loop.is_running());
  EXPECT_EQ(testing::join(events), "after raise");
  // The loop stays usable and what was queued still runs.
  loop.call_soon([&] { loop.stop(); });
  EXPECT_TRUE(testing::run_with_timeout(loop));
  EXPECT_EQ(testing::join(events), "after raise queued by the interrupted iteration");
  loop.close();
}

TEST_F(KeyboardInterruptTest, SigintWakesALoopSleepingInPoll) {
  EventLoop loop;
  std::thread interrupter([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(getpid(), SIGINT);
  });
  bool watchdog = false;
  loop.call_later(30, [&] {
    watchdog = true;
    loop.stop();
  });
  EXPECT_THROW(loop.run_forever(), KeyboardInterrupt);
  interrupter.join();
  EXPECT_FALSE(watchdog);
  loop.close();
}

Coro<int> sleeps_forever() {
  co_await sleep(3600);
  co_return 1;
}

TEST_F(KeyboardInterruptTest, EscapesRunUntilComplete) {
  EventLoop loop;
  loop.call_later(0.01, [] { raise(SIGINT); });
  EXPECT_THROW(loop.run_until_complete(sleeps_forever()), KeyboardInterrupt);
  EXPECT_TRUE(sigint_is_default());
  loop.close();
}

Coro<int> interrupted_main() {
  get_running_loop().call_later(0.01, [] { raise(SIGINT); });
  co_await sleep(3600);
  co_return 1;
}

TEST_F(KeyboardInterruptTest, EscapesAioRunWhichStillClosesTheLoop) {
  EXPECT_THROW(run(interrupted_main()), KeyboardInterrupt);
  EXPECT_TRUE(sigint_is_default());
}

TEST_F(KeyboardInterruptTest, AProgramsOwnSigintDispositionIsKept) {
  signal(SIGINT, SIG_IGN);
  EventLoop loop;
  loop.call_soon([&] {
    raise(SIGINT);  // ignored
    loop.call_later(0.02, [&] { loop.stop(); });
  });
  EXPECT_NO_THROW(testing::run_with_timeout(loop));
  EXPECT_EQ(disposition(SIGINT).sa_handler, SIG_IGN);
  loop.close();
}

std::atomic<int> g_own_sigint_runs{0};
void own_sigint(int) { g_own_sigint_runs.fetch_add(1); }

TEST_F(KeyboardInterruptTest, AProgramsOwnSigintHandlerIsKeptAndCalled) {
  struct sigaction own = {};
  own.sa_handler = own_sigint;
  sigemptyset(&own.sa_mask);
  ASSERT_EQ(sigaction(SIGINT, &own, nullptr), 0);
  EventLoop loop;
  loop.call_soon([&] {
    raise(SIGINT);
    loop.call_later(0.02, [&] { loop.stop(); });
  });
  EXPECT_NO_THROW(testing::run_with_timeout(loop));
  EXPECT_EQ(g_own_sigint_runs.load(), 1);
  EXPECT_EQ(disposition(SIGINT).sa_handler, own_sigint);
  loop.close();
}

TEST_F(KeyboardInterruptTest, AddSignalHandlerForSigintReplacesCtrlCUntilRemoved) {
  EventLoop loop;
  std::vector<std::string> events;
  add_signal_handler(loop, SIGINT, [&] {
    events.push_back("handler");
    // Removed during the run: the Ctrl-C behaviour is back at once.
    EXPECT_TRUE(remove_signal_handler(loop, SIGINT));
    EXPECT_FALSE(sigint_is_default()) << "aio's Ctrl-C handler, not SIG_DFL, during a run";
    raise(SIGINT);
  });
  loop.call_soon([] { raise(SIGINT); });
  EXPECT_THROW(testing::run_with_timeout(loop), KeyboardInterrupt);
  EXPECT_EQ(testing::join(events), "handler");
  EXPECT_TRUE(sigint_is_default());
  // Removed outside a run: plain SIG_DFL.
  add_signal_handler(loop, SIGINT, [] {});
  EXPECT_TRUE(remove_signal_handler(loop, SIGINT));
  EXPECT_TRUE(sigint_is_default());
  loop.close();
}

TEST_F(KeyboardInterruptTest, ASigintHandlerTakenDuringARunIsGivenBackAsDefaultOnClose) {
  EventLoop loop;
  bool got = false;
  loop.call_soon([&] {
    // The disposition saved here is aio's Ctrl-C handler; close() must not put it back.
    add_signal_handler(loop, SIGINT, [&] {
      got = true;
      loop.stop();
    });
    raise(SIGINT);
  });
  EXPECT_NO_THROW(testing::run_with_timeout(loop));
  EXPECT_TRUE(got);
  loop.close();
  EXPECT_TRUE(sigint_is_default());
}

TEST_F(KeyboardInterruptTest, ALoopOnAnotherThreadLeavesSigintAlone) {
  bool default_during_run = false;
  std::thread worker([&] {
    EventLoop loop;
    loop.call_soon([&] {
      default_during_run = sigint_is_default();
      loop.stop();
    });
    loop.run_forever();
    loop.close();
  });
  worker.join();
  EXPECT_TRUE(default_during_run);
}

}  // namespace
}  // namespace aio
