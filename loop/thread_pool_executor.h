// aio::ThreadPoolExecutor (concurrent.futures.ThreadPoolExecutor): a fixed maximum of worker
// threads, started on demand when no worker is idle.
#ifndef AIO_LOOP_THREAD_POOL_EXECUTOR_H_
#define AIO_LOOP_THREAD_POOL_EXECUTOR_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "loop/executor.h"

namespace aio {

class ThreadPoolExecutor final : public Executor {
 public:
  // max_workers <= 0 picks Python's default: min(32, hardware threads + 4).
  explicit ThreadPoolExecutor(int max_workers = 0);
  ~ThreadPoolExecutor() override;  // shutdown(wait=true)
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

  void execute(absl::AnyInvocable<void()> job) override;
  void shutdown(bool wait = true) override;
  int max_workers() const noexcept { return max_workers_; }

 private:
  void work();

  const int max_workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<absl::AnyInvocable<void()>> jobs_;  // guarded by mutex_
  std::vector<std::thread> threads_;             // guarded by mutex_
  int idle_ = 0;                                 // guarded by mutex_
  bool shutting_down_ = false;                   // guarded by mutex_
};

}  // namespace aio

#endif  // AIO_LOOP_THREAD_POOL_EXECUTOR_H_
