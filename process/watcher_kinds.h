// The four child watchers besides pidfd, as one GoogleTest type list with readable names, for
// the suites that run the same checks against each (child_watchers_test,
// watchers_subprocess_test).
#ifndef AIO_PROCESS_WATCHER_KINDS_H_
#define AIO_PROCESS_WATCHER_KINDS_H_

#include <string>
#include <type_traits>

#include "gtest/gtest.h"
#include "process/fast_child_watcher.h"
#include "process/multi_loop_child_watcher.h"
#include "process/safe_child_watcher.h"
#include "process/threaded_child_watcher.h"

namespace aio::process {

using WatcherKinds = ::testing::Types<ThreadedChildWatcher, SafeChildWatcher, FastChildWatcher,
                                      MultiLoopChildWatcher>;

class WatcherKindNames {
 public:
  template <class W>
  static std::string GetName(int) {
    if (std::is_same_v<W, ThreadedChildWatcher>) return "Threaded";
    if (std::is_same_v<W, SafeChildWatcher>) return "Safe";
    if (std::is_same_v<W, FastChildWatcher>) return "Fast";
    return "MultiLoop";
  }
};

}  // namespace aio::process

#endif  // AIO_PROCESS_WATCHER_KINDS_H_
