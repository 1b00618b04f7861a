// Linked into every //process test: fails a test that leaves a child behind, running or as a
// zombie. Two views: /proc/self/task/*/children (what the kernel lists as our children, with
// their state) and waitpid(-1, WNOHANG), which must say ECHILD: no children at all.
#include <dirent.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace aio::process::testing {
namespace {

// "pid (comm) S" for each child of any thread of this process, from /proc.
std::string children_from_proc() {
  std::string found;
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return found;
  while (dirent* task = ::readdir(tasks)) {
    if (task->d_name[0] == '.') continue;
    std::ifstream list(std::string("/proc/self/task/") + task->d_name + "/children");
    std::string pid;
    while (list >> pid) {
      std::ifstream stat("/proc/" + pid + "/stat");
      std::string line;
      std::getline(stat, line);
      std::size_t paren = line.rfind(')');
      found += (found.empty() ? "" : ", ") +
               (paren == std::string::npos ? pid : line.substr(0, paren + 3));
    }
  }
  ::closedir(tasks);
  return found;
}

class NoChildLeftListener : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    std::string listed = children_from_proc();
    EXPECT_EQ(listed, "") << info.test_suite_name() << "." << info.name()
                          << " left children (state R/S running, Z zombie): " << listed;
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == -1 && errno == ECHILD) return;
    ADD_FAILURE() << info.test_suite_name() << "." << info.name() << " left a child behind: "
                  << (pid == 0  ? "still running"
                      : pid > 0 ? "a zombie (reaped now)"
                                : "error");
  }
};

const bool registered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new NoChildLeftListener);
  return true;
}();

}  // namespace
}  // namespace aio::process::testing
