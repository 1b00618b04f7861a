// File: an owned file descriptor with a position, for the calls that take "a file object" in
// asyncio: connect_read_pipe / connect_write_pipe (the pipe, FIFO, socket, character device or
// PTY to wrap) and sendfile (the regular file to send).
#ifndef AIO_NET_FILE_H_
#define AIO_NET_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>

namespace aio {

class File {
 public:
  File() = default;
  // Takes ownership of `fd` (closed by the destructor).
  explicit File(int fd) noexcept : fd_(fd) {}
  // open(2) with O_CLOEXEC; OSError (FileNotFoundError, PermissionError...) on failure.
  static File open(const std::string& path, int flags, int mode = 0644);
  // Refers to `fd` without owning it: the destructor leaves it open (e.g. stdin).
  static File borrow(int fd) noexcept {
    File file(fd);
    file.owned_ = false;
    return file;
  }
  // An os.pipe(): (read end, write end).
  static std::pair<File, File> pipe();

  File(File&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), owned_(std::exchange(other.owned_, true)) {}
  File& operator=(File&& other) noexcept;
  ~File();

  int fileno() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  void close() noexcept;
  int detach() noexcept { return std::exchange(fd_, -1); }

  // lseek(2): OSError for fds without a position (pipes: ESPIPE).
  std::int64_t seek(std::int64_t offset, int whence = SEEK_SET);
  std::int64_t tell() const;
  void set_blocking(bool blocking);
  // fstat's mode bits (S_ISREG etc.).
  unsigned mode() const;

 private:
  int fd_ = -1;
  bool owned_ = true;
};

}  // namespace aio

#endif  // AIO_NET_FILE_H_
