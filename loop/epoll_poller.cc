#include "loop/epoll_poller.h"

#include <unistd.h>

#include <cerrno>

#include "loop/errors.h"

namespace aio::internal {
namespace {

std::uint32_t to_epoll(std::uint32_t events) {
  return ((events & kReadable) ? EPOLLIN : 0u) | ((events & kWritable) ? EPOLLOUT : 0u);
}

}  // namespace

EpollPoller::EpollPoller() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (epfd_ < 0) throw_errno("epoll_create1");
}

EpollPoller::~EpollPoller() { ::close(epfd_); }

int EpollPoller::update(int fd, std::uint32_t old_events, std::uint32_t new_events) {
  epoll_event ev{};
  ev.events = to_epoll(new_events);
  // The interest travels with the event, so readiness can be masked without a lookup.
  ev.data.u64 = static_cast<std::uint32_t>(fd) | (std::uint64_t{new_events} << 32);
  if (new_events == 0) {
    // The fd may already be closed (the kernel then dropped it itself): nothing to undo.
    if (epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev) < 0 && errno != ENOENT && errno != EBADF) {
      return errno;
    }
    return 0;
  }
  int op = old_events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(epfd_, op, fd, &ev) == 0) return 0;
  // A watched fd that was closed and whose number was reused is unknown to epoll again.
  if (op == EPOLL_CTL_MOD && errno == ENOENT && epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0) {
    return 0;
  }
  return errno;
}

int EpollPoller::poll(int timeout_ms, absl::FunctionRef<void(int, std::uint32_t)> ready) {
  int n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : errno;
  for (int i = 0; i < n; ++i) {
    std::uint32_t got = events_[i].events;
    std::uint32_t events = 0;
    if (got & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) events |= kReadable;
    if (got & (EPOLLOUT | EPOLLERR | EPOLLHUP)) events |= kWritable;
    std::uint64_t data = events_[i].data.u64;
    ready(static_cast<int>(data & 0xffffffffu), events & static_cast<std::uint32_t>(data >> 32));
  }
  return 0;
}

}  // namespace aio::internal
