#include "loop/wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "loop/errors.h"

namespace aio::internal {

Wakeup::Wakeup() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw_errno("eventfd");
}

Wakeup::~Wakeup() { ::close(fd_); }

void Wakeup::notify() noexcept {
  std::uint64_t one = 1;
  // EAGAIN means the counter is saturated: the loop will wake anyway.
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
}

void Wakeup::drain() noexcept {
  std::uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(fd_, &count, sizeof count);
}

}  // namespace aio::internal
