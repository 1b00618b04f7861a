// The policy's child watcher: asyncio's get_child_watcher() / set_child_watcher(), process-wide
// (as the policy is). Thread-safe.
#ifndef AIO_PROCESS_WATCHER_POLICY_H_
#define AIO_PROCESS_WATCHER_POLICY_H_

#include <memory>

#include "process/child_watcher.h"

namespace aio::process {

// The current watcher; made on first use: a PidfdChildWatcher (see docs/API.md for why it is
// the default, where CPython 3.8 would pick ThreadedChildWatcher).
std::shared_ptr<AbstractChildWatcher> get_child_watcher();
// Replaces the watcher subprocesses spawned from now on use (nullptr: back to the default made
// on next use). The previous one is not closed: children it watches are still reported.
void set_child_watcher(std::shared_ptr<AbstractChildWatcher> watcher);

}  // namespace aio::process

#endif  // AIO_PROCESS_WATCHER_POLICY_H_
