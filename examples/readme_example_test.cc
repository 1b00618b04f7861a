// The README's example, kept compiling and true.
#include "gtest/gtest.h"
#include "loop/loop.h"

namespace {

aio::Coro<int> slow_double(int x) {
  co_await aio::sleep(0.01);
  co_return 2 * x;
}

aio::Coro<int> main_coro() {
  aio::EventLoop& loop = aio::get_running_loop();
  aio::Task<int> a = loop.create_task(slow_double(20), "a");
  int b = co_await aio::wait_for(slow_double(1), 1.0);
  int c = co_await loop.run_in_executor(nullptr, [] { return 0; });
  co_return co_await a + b + c;
}

TEST(ReadmeExampleTest, RunsToFortyTwo) { EXPECT_EQ(aio::run(main_coro()), 42); }

}  // namespace
