// Small helpers for loop tests: bounded runs, captured log records, pipes that close themselves.
#ifndef AIO_TESTING_LOOP_TEST_UTIL_H_
#define AIO_TESTING_LOOP_TEST_UTIL_H_

#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/event_loop.h"
#include "loop/logging.h"

namespace aio::testing {

// Options for a loop on virtual time that auto-advances (EventLoopOptions::virtual_time): its
// timers fire in deadline order at once, so timing scenarios are deterministic and fast.
inline EventLoopOptions virtual_time() {
  EventLoopOptions options;
  options.virtual_time = true;
  options.auto_advance = true;
  return options;
}

// Runs `loop` until stop() with a watchdog: if it has not stopped after `timeout` seconds, the
// watchdog stops it and the test fails. Returns false on timeout.
inline bool run_with_timeout(EventLoop& loop, double timeout = 10.0) {
  bool timed_out = false;
  TimerHandle watchdog = loop.call_later(timeout, [&] {
    timed_out = true;
    loop.stop();
  });
  loop.run_forever();
  watchdog.cancel();
  EXPECT_FALSE(timed_out) << "loop did not stop within " << timeout << " s";
  return !timed_out;
}

// Runs `loop` until `done()` holds (checked every millisecond and before starting), for at most
// `timeout` seconds; then the test fails and this returns false.
template <class Pred>
bool run_until(EventLoop& loop, Pred done, double timeout = 10.0) {
  if (done()) return true;
  if (loop.has_virtual_time()) {
    // Run what is ready, then jump to the next timer, until done: no polling timer of our own
    // (it would be the next timer every time, moving the clock in 1 ms steps). Real I/O is not
    // waited for here: with nothing scheduled and `done()` false, the test fails.
    const double limit = loop.time() + timeout;
    while (true) {
      loop.advance_time(0);
      if (done()) return true;
      double next = loop.next_timer_when();
      if (next > limit) {
        ADD_FAILURE() << "not done by virtual time " << limit
                      << (next == std::numeric_limits<double>::infinity() ? " (nothing scheduled)"
                                                                          : "");
        return false;
      }
      loop.advance_time(next - loop.time());
    }
  }
  TimerHandle poll;
  std::function<void()> check = [&] {
    if (done()) {
      loop.stop();
    } else {
      poll = loop.call_later(0.001, check);
    }
  };
  poll = loop.call_later(0.001, check);
  bool finished = run_with_timeout(loop, timeout);
  poll.cancel();
  return finished;
}

// What `fd` (a socket, or any non-blocking fd) has to read now, without waiting: up to 64 KiB,
// "" if nothing is there.
inline std::string read_some(int fd) {
  char buffer[65536];
  ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n < 0 && errno == ENOTSOCK) n = ::read(fd, buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
}

// The message of what `f` throws (what() of a std::exception or an aio::BaseException, the
// latter prefixed "BaseException: "), or "<no exception>".
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  } catch (const BaseException& e) {
    return std::string("BaseException: ") + e.what();
  }
  return "<no exception>";
}

// The items joined with single spaces (how order scenarios are compared).
inline std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : " ") + item;
  return text;
}

// Runs a python3 asyncio script (no single quotes in it) and returns the first line it
// printed, or "" if python3 is not available: CPython is the oracle for callback order.
inline std::string python_oracle(const std::string& script) {
  FILE* python = popen(("python3 -c '" + script + "' 2>/dev/null").c_str(), "r");
  if (python == nullptr) return "";
  char line[1024] = {};
  bool got = fgets(line, sizeof line, python) != nullptr;
  if (pclose(python) != 0 || !got) return "";
  std::string text = line;
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// Python prepended to an oracle script whose scenario depends on timers: run_virtual(coro) runs
// it on CPython's own loop with a virtual clock (time() jumps to where select() would have
// waited), the counterpart of a virtual_time() loop here, so a loaded machine cannot reorder
// timers that are 10 ms apart.
inline constexpr const char* kPythonVirtualTime = R"py(
import asyncio
class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        super().__init__()
        self._now = 0.0
        select = self._selector.select
        def jump(timeout=None):
            if timeout is not None and timeout > 0:
                self._now += timeout
                timeout = 0
            return select(timeout)
        self._selector.select = jump
    def time(self):
        return self._now
def run_virtual(coro):
    loop = VirtualLoop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
)py";

// Compares an order of events with what CPython's asyncio prints for the same scenario. When
// python3 is missing the test is marked skipped; call it as a test's last statement.
inline void expect_same_as_cpython(const std::string& ours, const std::string& script) {
  std::string oracle = python_oracle(script);
  if (oracle.empty()) GTEST_SKIP() << "python3 is not available as an oracle";
  EXPECT_EQ(ours, oracle) << "CPython's asyncio disagrees";
}

// Collects every log record while alive (and restores the previous sink afterwards).
class LogCapture {
 public:
  LogCapture() {
    previous_ = set_log_sink([this](const LogRecord& record) {
      std::lock_guard<std::mutex> lock(mutex_);
      records_.push_back(
          {record.level, std::string(record.message), record.exception, record.context != nullptr});
    });
  }
  ~LogCapture() { set_log_sink(std::move(previous_)); }

  struct Record {
    LogLevel level;
    std::string message;
    std::exception_ptr exception;  // the record's exc_info
    bool from_exception_handler;   // the record carried the handler's context
  };
  std::vector<Record> records() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return records_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Record> records_;
  LogSink previous_;
};

// For the `@loopback_only` test variants (bazel/aio.bzl): fails unless every configured
// address is on a loopback interface (and lo is up). Skips the test elsewhere.
inline void expect_loopback_only_namespace() {
  if (std::getenv("AIO_EXPECT_LOOPBACK_ONLY") == nullptr) {
    GTEST_SKIP() << "only meaningful in the @loopback_only variant";
  }
  ifaddrs* list = nullptr;
  ASSERT_EQ(::getifaddrs(&list), 0);
  bool loopback_up = false;
  for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    int family = entry->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    EXPECT_TRUE(entry->ifa_flags & IFF_LOOPBACK) << entry->ifa_name << " has an address";
    loopback_up |= (entry->ifa_flags & IFF_LOOPBACK) && (entry->ifa_flags & IFF_UP);
  }
  ::freeifaddrs(list);
  EXPECT_TRUE(loopback_up) << "lo is up";
}

// A non-blocking pipe closed on destruction.
struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    read_fd = fds[0];
    write_fd = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read_fd >= 0) ::close(read_fd);
    read_fd = -1;
  }
  void close_write() {
    if (write_fd >= 0) ::close(write_fd);
    write_fd = -1;
  }
  int read_fd = -1;
  int write_fd = -1;
};

}  // namespace aio::testing

#endif  // AIO_TESTING_LOOP_TEST_UTIL_H_
