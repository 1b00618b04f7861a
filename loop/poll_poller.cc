#include "loop/poll_poller.h"

#include <fcntl.h>

#include <cerrno>

namespace aio::internal {
namespace {

short to_poll(std::uint32_t events) {
  return static_cast<short>(((events & kReadable) ? POLLIN : 0) |
                            ((events & kWritable) ? POLLOUT : 0));
}

}  // namespace

int PollPoller::update(int fd, std::uint32_t old_events, std::uint32_t new_events) {
  if (fd >= static_cast<int>(slot_of_fd_.size())) slot_of_fd_.resize(fd + 1, -1);
  int slot = slot_of_fd_[fd];
  if (new_events == 0) {
    if (slot < 0) return 0;
    // Swap-remove: move the last entry into the hole.
    fds_[slot] = fds_.back();
    slot_of_fd_[fds_[slot].fd] = slot;
    fds_.pop_back();
    slot_of_fd_[fd] = -1;
    return 0;
  }
  // poll(2) accepts any number and reports POLLNVAL later; refuse a closed fd now, as epoll does.
  if (slot < 0 && fcntl(fd, F_GETFD) < 0) return errno;
  if (slot < 0) {
    slot_of_fd_[fd] = static_cast<int>(fds_.size());
    fds_.push_back(pollfd{fd, to_poll(new_events), 0});
  } else {
    fds_[slot].events = to_poll(new_events);
  }
  return 0;
}

int PollPoller::poll(int timeout_ms, absl::FunctionRef<void(int, std::uint32_t)> ready) {
  snapshot_ = fds_;
  int n = ::poll(snapshot_.data(), snapshot_.size(), timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : errno;
  for (const pollfd& p : snapshot_) {
    if (n == 0) break;
    if (p.revents == 0) continue;
    --n;
    std::uint32_t events = 0;
    if ((p.events & POLLIN) && (p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))) {
      events |= kReadable;
    }
    if ((p.events & POLLOUT) && (p.revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))) {
      events |= kWritable;
    }
    ready(p.fd, events);
  }
  return 0;
}

}  // namespace aio::internal
