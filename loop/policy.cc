#include "loop/policy.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>

namespace aio {
namespace {

bool is_main_thread() { return syscall(SYS_gettid) == getpid(); }

std::mutex& policy_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::unique_ptr<EventLoopPolicy>& policy_slot() {
  static std::unique_ptr<EventLoopPolicy> policy;
  return policy;
}

}  // namespace

EventLoop& DefaultEventLoopPolicy::get_event_loop() {
  std::lock_guard<std::mutex> lock(mutex_);
  ThreadSlot& slot = slots_[std::this_thread::get_id()];
  if (slot.loop == nullptr && !slot.set_called && is_main_thread()) {
    slot.implicit = std::make_unique<EventLoop>(options_);
    slot.loop = slot.implicit.get();
  }
  if (slot.loop == nullptr) {
    std::ostringstream id;
    id << std::this_thread::get_id();
    throw RuntimeError("There is no current event loop in thread " + id.str() + ".");
  }
  return *slot.loop;
}

void DefaultEventLoopPolicy::set_event_loop(EventLoop* loop) {
  std::lock_guard<std::mutex> lock(mutex_);
  ThreadSlot& slot = slots_[std::this_thread::get_id()];
  slot.set_called = true;
  slot.loop = loop;
}

std::unique_ptr<EventLoop> DefaultEventLoopPolicy::new_event_loop() {
  return std::make_unique<EventLoop>(options_);
}

EventLoopPolicy& get_event_loop_policy() {
  std::lock_guard<std::mutex> lock(policy_mutex());
  if (!policy_slot()) policy_slot() = std::make_unique<DefaultEventLoopPolicy>();
  return *policy_slot();
}

void set_event_loop_policy(std::unique_ptr<EventLoopPolicy> policy) {
  std::lock_guard<std::mutex> lock(policy_mutex());
  policy_slot() = policy ? std::move(policy) : std::make_unique<DefaultEventLoopPolicy>();
}

EventLoop& get_event_loop() {
  if (EventLoop* running = EventLoop::running_loop()) return *running;
  return get_event_loop_policy().get_event_loop();
}

void set_event_loop(EventLoop* loop) { get_event_loop_policy().set_event_loop(loop); }

std::unique_ptr<EventLoop> new_event_loop() { return get_event_loop_policy().new_event_loop(); }

}  // namespace aio
