#include "process/watcher_policy.h"

#include <mutex>
#include <utility>

#include "process/pidfd_child_watcher.h"

namespace aio::process {

namespace {

std::mutex watcher_mutex;
// Never destroyed: children may still be reported while static destructors run.
std::shared_ptr<AbstractChildWatcher>& current_watcher() {
  static auto* watcher = new std::shared_ptr<AbstractChildWatcher>();
  return *watcher;
}

}  // namespace

std::shared_ptr<AbstractChildWatcher> get_child_watcher() {
  std::lock_guard<std::mutex> lock(watcher_mutex);
  std::shared_ptr<AbstractChildWatcher>& watcher = current_watcher();
  if (!watcher) watcher = std::make_shared<PidfdChildWatcher>();
  return watcher;
}

void set_child_watcher(std::shared_ptr<AbstractChildWatcher> watcher) {
  std::lock_guard<std::mutex> lock(watcher_mutex);
  current_watcher() = std::move(watcher);
}

}  // namespace aio::process
