// Test support for //process (testonly): the test child's path, a SubprocessProtocol that
// records every callback and checks asyncio's order rules as it goes, and bounded runs.
#ifndef AIO_PROCESS_TEST_UTIL_H_
#define AIO_PROCESS_TEST_UTIL_H_

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/event_loop.h"
#include "loop/task.h"
#include "process/subprocess_protocol.h"

namespace aio::process::testing {

// process/testdata/test_child, passed as the test's first argument ($(location) in BUILD).
inline std::string child_path() {
  std::vector<std::string> argv = ::testing::internal::GetArgvs();
  return argv.size() > 1 ? argv[1] : "";
}

// Runs `coro` to completion on `loop`, failing (TimeoutError) after `timeout` seconds.
template <class T>
T run(EventLoop& loop, Coro<T> coro, double timeout = 20.0) {
  return loop.run_until_complete(wait_for(std::move(coro), timeout));
}

class SubprocessRecorder : public SubprocessProtocol {
 public:
  void connection_made(SubprocessTransport& transport) override {
    EXPECT_TRUE(events.empty()) << "connection_made not first: " << trace();
    events.push_back("made");
    transport_ = &transport;
    for (int fd = 0; fd < 3; ++fd) has_pipe[fd] = transport.get_pipe_transport(fd) != nullptr;
  }
  void pipe_data_received(int fd, std::span<const std::byte> data) override {
    EXPECT_TRUE(fd == 1 || fd == 2) << "data from fd " << fd;
    EXPECT_FALSE(pipe_lost[fd]) << "data on fd " << fd << " after its pipe_connection_lost";
    EXPECT_FALSE(lost) << "data after connection_lost";
    output[fd].append(reinterpret_cast<const char*>(data.data()), data.size());
    std::string event = "data" + std::to_string(fd);
    if (events.empty() || events.back() != event) events.push_back(event);
    if (on_data) on_data(fd);
  }
  void pipe_connection_lost(int fd, std::exception_ptr error) override {
    EXPECT_FALSE(pipe_lost[fd]) << "pipe_connection_lost twice for fd " << fd;
    EXPECT_FALSE(lost) << "pipe_connection_lost after connection_lost";
    EXPECT_TRUE(has_pipe[fd]) << "pipe_connection_lost for fd " << fd << " that has no pipe";
    pipe_lost[fd] = true;
    pipe_error[fd] = error;
    events.push_back("lost" + std::to_string(fd));
  }
  void process_exited() override {
    EXPECT_FALSE(exited) << "process_exited twice";
    EXPECT_FALSE(lost) << "process_exited after connection_lost";
    exited = true;
    returncode_at_exit = transport_->get_returncode();
    events.push_back("exited");
  }
  void connection_lost(std::exception_ptr error) override {
    EXPECT_FALSE(lost) << "connection_lost twice";
    EXPECT_TRUE(exited) << "connection_lost before process_exited";
    for (int fd = 0; fd < 3; ++fd) {
      EXPECT_TRUE(!has_pipe[fd] || pipe_lost[fd]) << "connection_lost before fd " << fd << " lost";
    }
    lost = true;
    events.push_back("lost");
  }

  std::string trace() const {
    std::string text;
    for (const std::string& event : events) text += (text.empty() ? "" : " ") + event;
    return text;
  }

  std::vector<std::string> events;
  std::string output[3];
  bool has_pipe[3] = {false, false, false};
  bool pipe_lost[3] = {false, false, false};
  std::exception_ptr pipe_error[3];
  bool exited = false;
  bool lost = false;
  std::optional<int> returncode_at_exit;
  std::function<void(int fd)> on_data;

 private:
  SubprocessTransport* transport_ = nullptr;
};

}  // namespace aio::process::testing

#endif  // AIO_PROCESS_TEST_UTIL_H_
