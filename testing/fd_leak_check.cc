// Linked into every aio test: fails a test that leaves more file descriptors open than it
// found (sockets, pipes, epoll or eventfd descriptors the code under test forgot to close).
#include "gtest/gtest.h"
#include "testing/fd_count.h"

namespace aio::testing {
namespace {

class FdLeakListener : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { before_ = open_fd_count(); }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    int after = open_fd_count();
    if (after != before_) {
      ADD_FAILURE() << info.test_suite_name() << "." << info.name() << ": " << before_
                    << " fds open before the test, " << after << " after";
    }
  }
  int before_ = 0;
};

// Registered before main() runs, so gtest_main's RUN_ALL_TESTS sees it.
const bool registered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new FdLeakListener);
  return true;
}();

}  // namespace
}  // namespace aio::testing
