#include "net/closes_with_loop.h"

#include <memory>
#include <vector>

#include "loop/event_loop.h"

namespace aio::internal {

class LoopClosingRegistry final : public LoopResource {
 public:
  ~LoopClosingRegistry() override {
    // Each object unregisters itself (a no-op now) or not; take them one by one from the back.
    while (!objects_.empty()) {
      ClosesWithLoop* object = objects_.back();
      objects_.pop_back();
      object->on_loop_closed();
    }
  }
  void add(ClosesWithLoop* object) {
    object->registry_index_ = objects_.size();
    objects_.push_back(object);
  }
  void remove(ClosesWithLoop* object) {
    std::size_t index = object->registry_index_;
    if (index >= objects_.size() || objects_[index] != object) return;
    objects_[index] = objects_.back();
    objects_[index]->registry_index_ = index;
    objects_.pop_back();
  }

 private:
  std::vector<ClosesWithLoop*> objects_;
};

namespace {
const char kRegistryKey = 0;
}

void register_with_loop(EventLoop& loop, ClosesWithLoop* object) {
  auto* registry = static_cast<LoopClosingRegistry*>(loop.extension(&kRegistryKey));
  if (registry == nullptr) {
    auto created = std::make_unique<LoopClosingRegistry>();
    registry = created.get();
    loop.set_extension(&kRegistryKey, std::move(created));
  }
  registry->add(object);
}

void unregister_from_loop(EventLoop& loop, ClosesWithLoop* object) {
  if (auto* registry = static_cast<LoopClosingRegistry*>(loop.extension(&kRegistryKey))) {
    registry->remove(object);
  }
}

}  // namespace aio::internal
