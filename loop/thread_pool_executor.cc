#include "loop/thread_pool_executor.h"

#include <algorithm>

#include "loop/errors.h"

namespace aio {

ThreadPoolExecutor::ThreadPoolExecutor(int max_workers)
    : max_workers_(max_workers > 0
                       ? max_workers
                       : std::min(32, static_cast<int>(std::thread::hardware_concurrency()) + 4)) {}

ThreadPoolExecutor::~ThreadPoolExecutor() { shutdown(true); }

void ThreadPoolExecutor::execute(absl::AnyInvocable<void()> job) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shutting_down_) throw RuntimeError("cannot schedule new futures after shutdown");
  jobs_.push_back(std::move(job));
  if (idle_ == 0 && static_cast<int>(threads_.size()) < max_workers_) {
    threads_.emplace_back([this] { work(); });
  } else {
    wake_.notify_one();
  }
}

void ThreadPoolExecutor::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    ++idle_;
    wake_.wait(lock, [this] { return !jobs_.empty() || shutting_down_; });
    --idle_;
    if (jobs_.empty()) return;  // shutting down and nothing left to do
    absl::AnyInvocable<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // destroy what it captured outside the lock
    lock.lock();
  }
}

void ThreadPoolExecutor::shutdown(bool wait) {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutting_down_ = true;
    if (wait) threads.swap(threads_);
  }
  wake_.notify_all();
  // Without wait the threads finish their queue on their own; the destructor joins them.
  for (std::thread& thread : threads) thread.join();
}

}  // namespace aio
