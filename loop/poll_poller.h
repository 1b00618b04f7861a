// POSIX poll(2) poller: portable, O(watched fds) per wait. Also the reference the epoll poller
// is tested against (every loop test runs on both).
#ifndef AIO_LOOP_POLL_POLLER_H_
#define AIO_LOOP_POLL_POLLER_H_

#include <poll.h>

#include <vector>

#include "loop/poller.h"

namespace aio::internal {

class PollPoller final : public Poller {
 public:
  std::string_view name() const override { return "poll"; }
  int update(int fd, std::uint32_t old_events, std::uint32_t new_events) override;
  int poll(int timeout_ms, absl::FunctionRef<void(int, std::uint32_t)> ready) override;

 private:
  std::vector<pollfd> fds_;
  std::vector<int> slot_of_fd_;   // fd -> index in fds_, or -1
  std::vector<pollfd> snapshot_;  // what one wait reports on, stable while callbacks run
};

}  // namespace aio::internal

#endif  // AIO_LOOP_POLL_POLLER_H_
