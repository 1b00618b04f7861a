#include "testing/leak_check.h"

#include <cstdio>
#include <string_view>
#include <utility>

#include "gtest/gtest.h"
#include "testing/fd_count.h"

namespace aio::testing {
namespace {

// The log messages by which aio reports a leak (asyncio's own wording).
bool reports_a_leak(std::string_view message) {
  for (std::string_view sign :
       {"Task was destroyed but it is pending!", "exception was never retrieved",
        "unclosed transport ", "unclosed server ", "was never awaited"}) {
    if (message.find(sign) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

LeakCheck::LeakCheck() : fds_before_(open_fd_count()) {
  previous_ = set_log_sink([this](const LogRecord& record) {
    if (reports_a_leak(record.message)) {
      std::lock_guard<std::mutex> lock(mutex_);
      leaks_.emplace_back(record.message);
    }
    // Forward to what was there (an empty sink means stderr).
    if (previous_) {
      previous_(record);
    } else {
      std::fprintf(stderr, "aio: %.*s\n", static_cast<int>(record.message.size()),
                   record.message.data());
    }
  });
}

LeakCheck::~LeakCheck() {
  set_log_sink(LogSink(previous_));  // a copy: a record on another thread may still read it
  int fds_after = open_fd_count();
  if (fds_after != fds_before_) {
    leaks_.push_back(std::to_string(fds_after - fds_before_) + " file descriptor(s) left open");
  }
  for (const std::string& leak : leaks_) ADD_FAILURE() << "leaked: " << leak;
}

std::vector<std::string> LeakCheck::leaks() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leaks_;
}

}  // namespace aio::testing
