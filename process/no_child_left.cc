// Linked into every //process test: fails a test that leaves a child behind, running or as a
// zombie (waitpid(-1, WNOHANG) must say ECHILD: this process has no children at all).
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include "gtest/gtest.h"

namespace aio::process::testing {
namespace {

class NoChildLeftListener : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == -1 && errno == ECHILD) return;
    ADD_FAILURE() << info.test_suite_name() << "." << info.name() << " left a child behind: "
                  << (pid == 0  ? "still running"
                      : pid > 0 ? "a zombie (reaped now)"
                                : std::strerror(errno));
  }
};

const bool registered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new NoChildLeftListener);
  return true;
}();

}  // namespace
}  // namespace aio::process::testing
