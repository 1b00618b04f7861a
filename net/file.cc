#include "net/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop/errors.h"

namespace aio {

File File::open(const std::string& path, int flags, int mode) {
  int fd;
  // Opening a FIFO blocks until the other end opens: a signal whose handler lacks SA_RESTART
  // interrupts it, and Python (PEP 475) retries.
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno("'" + path + "'");
  return File(fd);
}

std::pair<File, File> File::pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno();
  return {File(fds[0]), File(fds[1])};
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    owned_ = std::exchange(other.owned_, true);
  }
  return *this;
}

File::~File() { close(); }

void File::close() noexcept {
  if (fd_ >= 0 && owned_) ::close(fd_);
  fd_ = -1;
}

std::int64_t File::seek(std::int64_t offset, int whence) {
  off_t position = ::lseek(fd_, offset, whence);
  if (position < 0) throw_errno();
  return position;
}

std::int64_t File::tell() const {
  off_t position = ::lseek(fd_, 0, SEEK_CUR);
  if (position < 0) throw_errno();
  return position;
}

void File::set_blocking(bool blocking) {
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) throw_errno();
  flags = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
  if (::fcntl(fd_, F_SETFL, flags) != 0) throw_errno();
}

unsigned File::mode() const {
  struct stat info{};
  if (::fstat(fd_, &info) != 0) throw_errno();
  return info.st_mode;
}

}  // namespace aio
