#include "process/threaded_child_watcher.h"

#include <pthread.h>
#include <sys/wait.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "loop/errors.h"
#include "loop/event_loop.h"
#include "process/child_status.h"

namespace aio::process {

struct ThreadedChildWatcher::State {
  struct Entry {
    std::shared_ptr<aio::internal::LoopPoster> poster;
    const void* loop = nullptr;  // for the "loop is closed" warning only
    ChildCallback callback;      // empty once removed
  };

  std::mutex mutex;
  std::map<pid_t, Entry> entries;  // one per child a thread waits for; guarded by mutex
  // The fallback loop's liveness token (reads nullptr once it is destroyed); guarded by mutex.
  std::shared_ptr<EventLoop*> liveness;
};

namespace {

// The body of one waiting thread: reap `pid`, then deliver to whoever is registered for it now.
void wait_for_child(std::shared_ptr<ThreadedChildWatcher::State> state, pid_t pid) {
  int status = 0;
  int returncode;
  if (internal::waitpid_retrying(pid, &status, 0) == pid) {
    returncode = internal::returncode_from_status(status);
  } else {  // ECHILD: someone else reaped it
    returncode = internal::kUnknownChildReturncode;
    internal::warn_unknown_child(pid);
  }
  ThreadedChildWatcher::State::Entry entry;
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    auto it = state->entries.find(pid);
    entry = std::move(it->second);
    state->entries.erase(it);
  }
  if (!entry.callback) return;  // removed, or dropped by a replacement that was itself removed
  bool posted = entry.poster->post([callback = std::move(entry.callback), pid,
                                    returncode]() mutable { callback(pid, returncode); });
  if (!posted) internal::warn_loop_closed(entry.loop, pid);
}

}  // namespace

ThreadedChildWatcher::ThreadedChildWatcher() : state_(std::make_shared<State>()) {}

ThreadedChildWatcher::~ThreadedChildWatcher() { close(); }

void ThreadedChildWatcher::add_child_handler(pid_t pid, ChildCallback callback) {
  internal::check_pid(pid);
  EventLoop* loop = EventLoop::running_loop();
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (loop == nullptr && state_->liveness != nullptr) loop = *state_->liveness;
  if (loop == nullptr) throw RuntimeError("no running event loop");
  auto [it, fresh] = state_->entries.try_emplace(pid);
  it->second.poster = loop->poster();
  it->second.loop = loop;
  it->second.callback = std::move(callback);
  if (!fresh) return;  // a thread already waits for this pid: it delivers to the new callback
  try {
    std::thread waiter(wait_for_child, state_, pid);
    pthread_setname_np(waiter.native_handle(), "aio-waitpid");
    waiter.detach();  // 3.8's daemon threads: a child that never exits must not block close()
  } catch (const std::system_error& e) {
    state_->entries.erase(it);
    throw RuntimeError(std::string("can't start new thread: ") + e.what());
  }
}

bool ThreadedChildWatcher::remove_child_handler(pid_t pid) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->entries.find(pid);
  if (it == state_->entries.end() || !it->second.callback) return false;
  it->second.callback = nullptr;  // the thread still reaps the child
  return true;
}

void ThreadedChildWatcher::attach_loop(EventLoop* loop) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->liveness = loop != nullptr ? loop->liveness() : nullptr;
}

void ThreadedChildWatcher::close() {
  // 3.8 joins only non-daemon threads, i.e. none: registered children are still reported.
  attach_loop(nullptr);
}

int ThreadedChildWatcher::waiting_threads() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return static_cast<int>(state_->entries.size());
}

}  // namespace aio::process
