// What the loop keeps for others: resources other threads complete by id (thread-pool jobs),
// per-loop extensions (the c-ares channel, the signal table...), the default executor, and the
// children (tasks) it releases when it closes.
#include <memory>
#include <utility>

#include "loop/event_loop.h"
#include "loop/executor.h"

namespace aio {

std::uint64_t EventLoop::adopt_resource(std::unique_ptr<internal::LoopResource> resource) {
  std::uint64_t id = next_resource_id_++;
  resources_.emplace(id, std::move(resource));
  return id;
}

internal::LoopResource* EventLoop::find_resource(std::uint64_t id) const {
  auto it = resources_.find(id);
  return it == resources_.end() ? nullptr : it->second.get();
}

void EventLoop::drop_resource(std::uint64_t id) {
  auto it = resources_.find(id);
  if (it == resources_.end()) return;
  std::unique_ptr<internal::LoopResource> resource = std::move(it->second);
  resources_.erase(it);  // destroyed after erasing: its destructor may touch the loop again
}

internal::LoopResource* EventLoop::extension(const void* key) const {
  auto it = extensions_.find(key);
  return it == extensions_.end() ? nullptr : it->second.get();
}

void EventLoop::set_extension(const void* key, std::unique_ptr<internal::LoopResource> service) {
  check_closed();
  extensions_[key] = std::move(service);
}

void EventLoop::set_default_executor(std::shared_ptr<Executor> executor) {
  default_executor_ = std::move(executor);
}

void EventLoop::unregister_child(internal::LoopChild* child) noexcept {
  std::size_t index = child->loop_child_index_;
  if (index >= children_.size() || children_[index] != child) return;
  children_[index] = children_.back();  // swap-remove: order does not matter
  children_[index]->loop_child_index_ = index;
  children_.pop_back();
}

}  // namespace aio
