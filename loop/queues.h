// asyncio's queues: aio::Queue (FIFO), aio::PriorityQueue (smallest first, heapq order) and
// aio::LifoQueue, with asyncio 3.8's semantics (Lib/asyncio/queues.py).
//
//   aio::Queue<std::string> queue(/*maxsize=*/16);   // 0: unbounded
//   co_await queue.put("job");                      // waits while the queue is full
//   std::string job = co_await queue.get();         // waits while it is empty
//   queue.task_done();                              // one per item taken...
//   co_await queue.join();                          // ...before join() returns
//
// Wake-up rules, as asyncio's: waiting getters and putters are futures in FIFO deques. Adding an
// item wakes the first getter still waiting, taking one wakes the first putter. A woken waiter
// re-checks the queue when it runs (another task may have been quicker) and waits again, at the
// back, if it must. A get() or put() cancelled while it waits never loses or duplicates an item:
// it leaves its deque, and if it had already been woken it passes the wake-up on to the next
// waiter. A queue binds to the running loop the first time something waits on it; waiting on it
// from another loop afterwards is a RuntimeError.
//
// NOT thread-safe, exactly like asyncio: use a queue from the thread of the loop it is bound to
// only (hand items over from other threads with loop.call_soon_threadsafe). A queue must outlive
// the tasks that wait on it.
//
// Differences from asyncio: the three queues are separate types sharing the class template
// aio::BasicQueue<T, Storage> rather than subclasses of Queue (a custom storage replaces
// overriding _put/_get); maxsize is a std::size_t, so there is no negative "unbounded"; repr()
// prints the items with operator<< when T has one (no Python quoting), and omits them otherwise.
// T may be move-only: put() and get() move the item.
#ifndef AIO_LOOP_QUEUES_H_
#define AIO_LOOP_QUEUES_H_

#include <algorithm>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "loop/coro.h"
#include "loop/errors.h"
#include "loop/future.h"
#include "loop/loop_binding.h"
#include "loop/task.h"

namespace aio {

// asyncio.QueueEmpty: get_nowait() on an empty queue.
class QueueEmpty : public internal::StdError<std::runtime_error> {
 public:
  QueueEmpty() : StdError("") {}
  using StdError::StdError;
};

// asyncio.QueueFull: put_nowait() on a full queue.
class QueueFull : public internal::StdError<std::runtime_error> {
 public:
  QueueFull() : StdError("") {}
  using StdError::StdError;
};

namespace internal {

// The storages of the three queues. A Storage has push(T&&), T pop() (called only when not
// empty), size(), items() (iterable, in the order repr() lists them: asyncio's list(_queue))
// and a kName for repr().

template <class T>
class FifoStorage {
 public:
  static constexpr const char* kName = "Queue";
  void push(T&& item) { items_.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  std::size_t size() const noexcept { return items_.size(); }
  const std::deque<T>& items() const noexcept { return items_; }

 private:
  std::deque<T> items_;
};

template <class T>
class LifoStorage {
 public:
  static constexpr const char* kName = "LifoQueue";
  void push(T&& item) { items_.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }
  std::size_t size() const noexcept { return items_.size(); }
  const std::vector<T>& items() const noexcept { return items_; }

 private:
  std::vector<T> items_;
};

// A binary min-heap that moves items exactly as Python's heapq does (heappush sifts the new
// item up towards the root; heappop moves the last item to the root, walks the hole down to a
// leaf along the smaller children, then sifts it up), so equal items come out in the same order
// as from asyncio.PriorityQueue. Only less(a, b) is ever asked, as heapq only uses `<`.
template <class T, class Compare>
class HeapStorage {
 public:
  static constexpr const char* kName = "PriorityQueue";
  void push(T&& item) {
    items_.push_back(std::move(item));
    sift_towards_root(0, items_.size() - 1);
  }
  T pop() {
    T last = std::move(items_.back());
    items_.pop_back();
    if (items_.empty()) return last;
    T smallest = std::move(items_.front());
    items_.front() = std::move(last);
    sift_towards_leaves(0);
    return smallest;
  }
  std::size_t size() const noexcept { return items_.size(); }
  const std::vector<T>& items() const noexcept { return items_; }

 private:
  // The item at `pos` moves up while it is less than its parent, never above `top`.
  void sift_towards_root(std::size_t top, std::size_t pos) {
    T moving = std::move(items_[pos]);
    while (pos > top) {
      std::size_t parent = (pos - 1) / 2;
      if (!less_(moving, items_[parent])) break;
      items_[pos] = std::move(items_[parent]);
      pos = parent;
    }
    items_[pos] = std::move(moving);
  }
  // heapq's _siftup: the hole at `pos` follows the smaller child down to a leaf (the right one
  // unless the left is strictly less), then the displaced item settles back up from there.
  void sift_towards_leaves(std::size_t pos) {
    const std::size_t end = items_.size();
    const std::size_t start = pos;
    T moving = std::move(items_[pos]);
    std::size_t child = 2 * pos + 1;
    while (child < end) {
      std::size_t right = child + 1;
      if (right < end && !less_(items_[child], items_[right])) child = right;
      items_[pos] = std::move(items_[child]);
      pos = child;
      child = 2 * pos + 1;
    }
    items_[pos] = std::move(moving);
    sift_towards_root(start, pos);
  }

  std::vector<T> items_;
  [[no_unique_address]] Compare less_;
};

template <class T>
concept Streamable = requires(std::ostream& out, const T& value) { out << value; };

}  // namespace internal

// The queue machinery over any Storage (see internal::FifoStorage for what one provides).
template <class T, class Storage>
class BasicQueue {
 public:
  using value_type = T;

  // maxsize 0: unbounded.
  explicit BasicQueue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  std::size_t qsize() const noexcept { return storage_.size(); }
  std::size_t maxsize() const noexcept { return maxsize_; }
  bool empty() const noexcept { return storage_.size() == 0; }
  bool full() const noexcept { return maxsize_ > 0 && storage_.size() >= maxsize_; }

  // Adds `item`, first waiting (in FIFO order with other putters) while the queue is full.
  // Cancelled while waiting: the item is not added.
  Coro<void> put(T item) {
    while (full()) co_await wait_in_line(putters_, /*for_room=*/true);
    put_nowait(std::move(item));
  }

  // Adds `item` at once; QueueFull if the queue is full.
  void put_nowait(T item) {
    if (full()) throw QueueFull();
    storage_.push(std::move(item));
    ++unfinished_tasks_;
    wake_next(getters_);
  }

  // Removes and returns the next item, first waiting (in FIFO order with other getters) while
  // the queue is empty. Cancelled while waiting: no item is taken.
  Coro<T> get() {
    while (empty()) co_await wait_in_line(getters_, /*for_room=*/false);
    co_return get_nowait();
  }

  // Removes and returns the next item at once; QueueEmpty if the queue is empty.
  T get_nowait() {
    if (empty()) throw QueueEmpty();
    T item = storage_.pop();
    wake_next(putters_);
    return item;
  }

  // Marks one item taken earlier as processed (join() counts them). ValueError if called more
  // times than items were put.
  void task_done() {
    if (unfinished_tasks_ == 0) throw ValueError("task_done() called too many times");
    if (--unfinished_tasks_ == 0) {
      // asyncio's Event.set(): every join() waiting now is released, even if more items are
      // put before it runs.
      std::vector<Future<void>> joiners = std::move(joiners_);
      joiners_.clear();
      for (Future<void>& joiner : joiners) {
        if (!joiner.done()) joiner.set_result();
      }
    }
  }

  // Waits until every item ever put has been marked with task_done() (at once if so already).
  Coro<void> join() {
    if (unfinished_tasks_ == 0) co_return;
    Future<void> joiner = bound_loop().create_future();
    joiners_.push_back(joiner);
    std::exception_ptr error;
    try {
      co_await joiner;
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      auto it = std::find(joiners_.begin(), joiners_.end(), joiner);
      if (it != joiners_.end()) joiners_.erase(it);
      std::rethrow_exception(error);
    }
  }

  // asyncio's repr: "<Queue at 0x55d0c0 maxsize=2 _queue=[1, 2] _getters[1] _putters[3]
  // tasks=2>" (the parts after maxsize only when not empty or zero).
  std::string repr() const {
    std::ostringstream out;
    out << '<' << Storage::kName << " at " << static_cast<const void*>(this)
        << " maxsize=" << maxsize_;
    if constexpr (internal::Streamable<T>) {
      if (!empty()) {
        out << " _queue=[";
        const char* separator = "";
        for (const T& item : storage_.items()) {
          out << separator << item;
          separator = ", ";
        }
        out << ']';
      }
    }
    if (!getters_.empty()) out << " _getters[" << getters_.size() << ']';
    if (!putters_.empty()) out << " _putters[" << putters_.size() << ']';
    if (unfinished_tasks_ != 0) out << " tasks=" << unfinished_tasks_;
    out << '>';
    return out.str();
  }

 private:
  using Waiters = std::deque<Future<void>>;

  // asyncio's _LoopBoundMixin._get_loop: the running loop, which must be the first one that
  // waited on this queue.
  EventLoop& bound_loop() {
    return binding_.get([this] { return repr(); });
  }

  // Resolves the first waiter still pending (cancelled ones are skipped and dropped).
  static void wake_next(Waiters& waiters) {
    while (!waiters.empty()) {
      Future<void> waiter = std::move(waiters.front());
      waiters.pop_front();
      if (!waiter.done()) {
        waiter.set_result();
        return;
      }
    }
  }

  // One wait of put() (for_room) or get(): queue a fresh future at the back of `waiters` and
  // await it. If the wait ends with an exception (cancellation), leave the deque; if this waiter
  // had been woken already, the wake-up it cannot use goes to the next one in line.
  Coro<void> wait_in_line(Waiters& waiters, bool for_room) {
    Future<void> waiter = bound_loop().create_future();
    waiters.push_back(waiter);
    std::exception_ptr error;
    try {
      co_await waiter;
    } catch (...) {
      error = std::current_exception();
    }
    if (!error) co_return;
    waiter.cancel();  // in case it is still pending (the task was cancelled some other way)
    auto it = std::find(waiters.begin(), waiters.end(), waiter);
    if (it != waiters.end()) waiters.erase(it);  // else wake_next() already took it
    bool usable = for_room ? !full() : !empty();
    if (usable && !waiter.cancelled()) wake_next(waiters);
    std::rethrow_exception(error);
  }

  Storage storage_;
  std::size_t maxsize_;
  std::size_t unfinished_tasks_ = 0;
  Waiters getters_;
  Waiters putters_;
  std::vector<Future<void>> joiners_;  // join() calls waiting for unfinished_tasks_ == 0
  internal::LoopBinding binding_;
};

// asyncio.Queue: first in, first out.
template <class T>
class Queue : public BasicQueue<T, internal::FifoStorage<T>> {
 public:
  explicit Queue(std::size_t maxsize = 0) : BasicQueue<T, internal::FifoStorage<T>>(maxsize) {}
};

// asyncio.PriorityQueue: the smallest item first by `Compare` (as heapq orders by `<`); put
// (priority, value) pairs for asyncio's usual (priority, data) tuples.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public BasicQueue<T, internal::HeapStorage<T, Compare>> {
 public:
  explicit PriorityQueue(std::size_t maxsize = 0)
      : BasicQueue<T, internal::HeapStorage<T, Compare>>(maxsize) {}
};

// asyncio.LifoQueue: last in, first out.
template <class T>
class LifoQueue : public BasicQueue<T, internal::LifoStorage<T>> {
 public:
  explicit LifoQueue(std::size_t maxsize = 0) : BasicQueue<T, internal::LifoStorage<T>>(maxsize) {}
};

}  // namespace aio

#endif  // AIO_LOOP_QUEUES_H_
