// The loop's FIFO of handles to run: a power-of-two ring buffer of raw pointers, so pushing and
// popping never allocate once it has grown to the loop's working size.
#ifndef AIO_LOOP_READY_QUEUE_H_
#define AIO_LOOP_READY_QUEUE_H_

#include <cstddef>
#include <memory>

namespace aio::internal {

template <class T>
class RingQueue {
 public:
  RingQueue() = default;
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;

  bool empty() const noexcept { return head_ == tail_; }
  std::size_t size() const noexcept { return tail_ - head_; }

  void push_back(T value) {
    if (size() == capacity_) grow();
    slots_[tail_++ & (capacity_ - 1)] = value;
  }

  T pop_front() noexcept { return slots_[head_++ & (capacity_ - 1)]; }

 private:
  void grow() {
    std::size_t capacity = capacity_ ? capacity_ * 2 : 64;
    auto slots = std::make_unique<T[]>(capacity);
    std::size_t n = size();
    for (std::size_t i = 0; i < n; ++i) slots[i] = slots_[(head_ + i) & (capacity_ - 1)];
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
    tail_ = n;
  }

  std::unique_ptr<T[]> slots_;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;  // free-running counters; index = counter & (capacity - 1)
  std::size_t tail_ = 0;
};

}  // namespace aio::internal

#endif  // AIO_LOOP_READY_QUEUE_H_
