// Proves a consumer can use the kernel through the named module alone.
import aio.loop;

#include <string>
#include <vector>

#include "gtest/gtest.h"

TEST(ModuleTest, ImportedKernelRunsCallbacksAndTimers) {
  aio::EventLoop loop;
  std::vector<std::string> order;
  loop.call_later(0.001, [&] {
    order.push_back("timer");
    loop.stop();
  });
  aio::Handle soon = loop.call_soon([&] { order.push_back("soon"); });
  loop.run_forever();
  EXPECT_FALSE(soon.cancelled());
  EXPECT_EQ(order, (std::vector<std::string>{"soon", "timer"}));
  loop.close();
  EXPECT_THROW(loop.call_soon([] {}), aio::RuntimeError);
}
