// The queue behind a stream transport's write(): copies of what the kernel did not take yet,
// flushed with one writev() per writable event. Small writes are coalesced into the last chunk
// so that a burst of tiny messages does not become a burst of tiny iovecs.
#ifndef AIO_NET_WRITE_BUFFER_H_
#define AIO_NET_WRITE_BUFFER_H_

#include <sys/uio.h>

#include <cstddef>
#include <deque>
#include <span>
#include <vector>

namespace aio::internal {

class WriteBuffer {
 public:
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void append(std::span<const std::byte> data);
  // Fills up to `max` iovecs from the front; returns how many.
  int fill(iovec* out, int max) const;
  // Drops the first `n` bytes (n <= size()).
  void consume(std::size_t n);
  void clear() noexcept;

 private:
  static constexpr std::size_t kCoalesceLimit = 16 * 1024;
  std::deque<std::vector<std::byte>> chunks_;
  std::size_t head_offset_ = 0;  // bytes of chunks_.front() already sent
  std::size_t size_ = 0;
};

}  // namespace aio::internal

#endif  // AIO_NET_WRITE_BUFFER_H_
