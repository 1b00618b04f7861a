#include "net/write_buffer.h"

#include <algorithm>

namespace aio::internal {

void WriteBuffer::append(std::span<const std::byte> data) {
  if (data.empty()) return;
  if (!chunks_.empty() && chunks_.back().size() + data.size() <= kCoalesceLimit) {
    chunks_.back().insert(chunks_.back().end(), data.begin(), data.end());
  } else {
    std::vector<std::byte>& chunk = chunks_.emplace_back();
    chunk.reserve(std::max(data.size(), data.size() < kCoalesceLimit ? kCoalesceLimit : 0));
    chunk.assign(data.begin(), data.end());
  }
  size_ += data.size();
}

int WriteBuffer::fill(iovec* out, int max) const {
  int count = 0;
  for (std::size_t i = 0; i < chunks_.size() && count < max; ++i) {
    std::size_t skip = i == 0 ? head_offset_ : 0;
    out[count].iov_base = const_cast<std::byte*>(chunks_[i].data() + skip);
    out[count].iov_len = chunks_[i].size() - skip;
    ++count;
  }
  return count;
}

void WriteBuffer::consume(std::size_t n) {
  size_ -= n;
  while (n > 0) {
    std::size_t left = chunks_.front().size() - head_offset_;
    if (n < left) {
      head_offset_ += n;
      return;
    }
    n -= left;
    chunks_.pop_front();
    head_offset_ = 0;
  }
  if (chunks_.size() == 1 && head_offset_ == chunks_.front().size()) {
    chunks_.pop_front();
    head_offset_ = 0;
  }
}

void WriteBuffer::clear() noexcept {
  chunks_.clear();
  head_offset_ = 0;
  size_ = 0;
}

}  // namespace aio::internal
