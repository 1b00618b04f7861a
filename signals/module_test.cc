// `import aio.signals;` alone is enough to use //signals: a handler added for SIGUSR1 runs on
// the loop once per raise(), remove_signal_handler says whether there was one, and the
// SignalCallback concept refuses a coroutine function at compile time. Signal numbers are
// macros, which no module exports: <signal.h> gives them.
#include <signal.h>

#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <thread>
#include <vector>

#include "gtest/gtest.h"

import aio.signals;

namespace {

static_assert(aio::SignalCallback<void (*)()>);
static_assert(!aio::SignalCallback<aio::Coro<void> (*)()>, "coroutines are refused");
static_assert(!aio::SignalCallback<int (*)(int)>);

struct Deliveries {
  std::vector<std::thread::id> threads;
  bool removed = false;
  bool removed_again = true;
};

aio::Coro<Deliveries> two_deliveries() {
  aio::EventLoop& loop = aio::get_running_loop();
  Deliveries seen;
  aio::Event handled;
  aio::add_signal_handler(loop, SIGUSR1, [&] {
    seen.threads.push_back(std::this_thread::get_id());
    handled.set();
  });
  for (int i = 0; i < 2; ++i) {
    handled.clear();
    ::raise(SIGUSR1);
    co_await aio::wait_for(handled.wait(), 10);
  }
  seen.removed = aio::remove_signal_handler(loop, SIGUSR1);
  seen.removed_again = aio::remove_signal_handler(loop, SIGUSR1);
  co_return seen;
}

TEST(SignalsModuleTest, HandlerRunsOnTheLoopOncePerRaise) {
  Deliveries seen = aio::run(two_deliveries());
  EXPECT_EQ(seen.threads,
            (std::vector<std::thread::id>{std::this_thread::get_id(), std::this_thread::get_id()}));
  EXPECT_TRUE(seen.removed);
  EXPECT_FALSE(seen.removed_again);
}

TEST(SignalsModuleTest, AnInvalidSignalIsAValueError) {
  aio::EventLoop loop;
  EXPECT_THROW(aio::add_signal_handler(loop, 0, [] {}), aio::ValueError);
  EXPECT_THROW(aio::add_signal_handler(loop, SIGKILL, [] {}), aio::RuntimeError);
  loop.close();
}

}  // namespace
