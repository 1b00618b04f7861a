// Linux epoll(7) poller: O(ready) waits; the interest set lives in the kernel.
#ifndef AIO_LOOP_EPOLL_POLLER_H_
#define AIO_LOOP_EPOLL_POLLER_H_

#include <sys/epoll.h>

#include <array>

#include "loop/poller.h"

namespace aio::internal {

class EpollPoller final : public Poller {
 public:
  EpollPoller();  // throws OSError
  ~EpollPoller() override;
  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  std::string_view name() const override { return "epoll"; }
  int update(int fd, std::uint32_t old_events, std::uint32_t new_events) override;
  int poll(int timeout_ms, absl::FunctionRef<void(int, std::uint32_t)> ready) override;

 private:
  int epfd_;
  std::array<epoll_event, 256> events_;  // per wait; more ready fds wait for the next call
};

}  // namespace aio::internal

#endif  // AIO_LOOP_EPOLL_POLLER_H_
