// Event loop policies (asyncio's get_event_loop / set_event_loop / new_event_loop and the
// policy object behind them). The default policy keeps one current loop per thread and, like
// asyncio 3.8, creates one implicitly only in the main thread.
#ifndef AIO_LOOP_POLICY_H_
#define AIO_LOOP_POLICY_H_

#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "loop/event_loop.h"

namespace aio {

class EventLoopPolicy {
 public:
  virtual ~EventLoopPolicy() = default;
  // The current loop of this thread. RuntimeError if there is none and none can be made.
  virtual EventLoop& get_event_loop() = 0;
  // Sets (nullptr: clears) the current loop of this thread; the caller keeps ownership.
  virtual void set_event_loop(EventLoop* loop) = 0;
  virtual std::unique_ptr<EventLoop> new_event_loop() = 0;
};

class DefaultEventLoopPolicy : public EventLoopPolicy {
 public:
  explicit DefaultEventLoopPolicy(EventLoopOptions options = {}) : options_(options) {}
  EventLoop& get_event_loop() override;
  void set_event_loop(EventLoop* loop) override;
  std::unique_ptr<EventLoop> new_event_loop() override;

 private:
  struct ThreadSlot {
    EventLoop* loop = nullptr;
    bool set_called = false;
    std::unique_ptr<EventLoop> implicit;  // made by get_event_loop() in the main thread
  };
  EventLoopOptions options_;
  std::mutex mutex_;
  std::unordered_map<std::thread::id, ThreadSlot> slots_;  // guarded by mutex_
};

// The process-wide policy (a DefaultEventLoopPolicy until replaced).
EventLoopPolicy& get_event_loop_policy();
// Replaces the policy; nullptr restores a fresh default one.
void set_event_loop_policy(std::unique_ptr<EventLoopPolicy> policy);

// The running loop if there is one, else the policy's current loop for this thread.
EventLoop& get_event_loop();
void set_event_loop(EventLoop* loop);
std::unique_ptr<EventLoop> new_event_loop();

}  // namespace aio

#endif  // AIO_LOOP_POLICY_H_
