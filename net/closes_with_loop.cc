#include "net/closes_with_loop.h"

#include <memory>
#include <utility>
#include <vector>

#include "loop/event_loop.h"

namespace aio::internal {

class LoopClosingRegistry final : public LoopResource {
 public:
  ~LoopClosingRegistry() override {
    // Take the objects one by one from the back; one released while another closes (a server
    // its last connection kept alive) unregisters itself on the way.
    while (!objects_.empty()) {
      ClosesWithLoop* object = objects_.back();
      objects_.pop_back();
      object->registry_ = nullptr;
      object->on_loop_closed();  // may destroy other registered objects: they remove themselves
    }
  }
  void add(ClosesWithLoop* object) {
    object->registry_ = this;
    object->registry_index_ = objects_.size();
    objects_.push_back(object);
  }
  static void remove(ClosesWithLoop* object) {
    LoopClosingRegistry* registry = std::exchange(object->registry_, nullptr);
    if (registry != nullptr) registry->erase(object);
  }

 private:
  void erase(ClosesWithLoop* object) {
    std::size_t index = object->registry_index_;
    if (index >= objects_.size() || objects_[index] != object) return;
    objects_[index] = objects_.back();
    objects_[index]->registry_index_ = index;
    objects_.pop_back();
  }

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

void unregister_from_loop(EventLoop& /*loop*/, ClosesWithLoop* object) {
  LoopClosingRegistry::remove(object);
}

}  // namespace aio::internal
