#include "process/pidfd_child_watcher.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/logging.h"
#include "net/closes_with_loop.h"

namespace aio::process {

namespace {

int exit_code(int status) {
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return status;  // cannot happen for an exited child
}

}  // namespace

// One watched child: its pidfd on the loop that registered it. Lives on that loop's thread;
// deleted when the child is reported, when its handler is removed, or when the loop closes.
class PidfdEntry final : public aio::internal::ClosesWithLoop {
 public:
  PidfdEntry(std::weak_ptr<PidfdChildWatcher::State> state, EventLoop& loop, pid_t pid, int pidfd,
             ChildCallback callback)
      : state_(std::move(state)),
        loop_(&loop),
        pid_(pid),
        pidfd_(pidfd),
        callback_(std::move(callback)) {}

  void start() {
    loop_->watch_reader(pidfd_, [this] { on_exit(); });
    aio::internal::register_with_loop(*loop_, this);
  }
  EventLoop* loop() const { return loop_; }
  void replace_callback(ChildCallback callback) { callback_ = std::move(callback); }

  // Stops watching and deletes this (on the loop thread).
  void cancel() {
    release();
    delete this;
  }

  void on_loop_closed() noexcept override {
    // The loop is going away: the callback can never run. Its child stays unreaped.
    ::close(std::exchange(pidfd_, -1));
    forget();
    delete this;
  }

 private:
  void release() {
    loop_->unwatch_reader(pidfd_);
    ::close(std::exchange(pidfd_, -1));
    aio::internal::unregister_from_loop(*loop_, this);
  }
  void forget();
  void on_exit();

  std::weak_ptr<PidfdChildWatcher::State> state_;
  EventLoop* loop_;
  pid_t pid_;
  int pidfd_;
  ChildCallback callback_;
};

// The table of watched children, shared by the watcher and its entries (an entry may outlive
// the watcher object, e.g. after set_child_watcher replaced it).
class PidfdChildWatcher::State {
 public:
  std::mutex mutex;
  std::map<pid_t, PidfdEntry*> entries;  // guarded by mutex
};

void PidfdEntry::forget() {
  if (auto state = state_.lock()) {
    std::lock_guard<std::mutex> lock(state->mutex);
    auto it = state->entries.find(pid_);
    if (it != state->entries.end() && it->second == this) state->entries.erase(it);
  }
}

void PidfdEntry::on_exit() {
  // The pidfd is readable once the child is a zombie: this waitpid does not block.
  int status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  int returncode;
  if (reaped < 0) {
    returncode = 255;
    log(LogLevel::kWarning, "child process pid " + std::to_string(pid_) +
                                " exit status already read:  will report returncode 255");
  } else {
    returncode = exit_code(status);
  }
  forget();
  release();
  ChildCallback callback = std::move(callback_);
  pid_t pid = pid_;
  delete this;
  if (callback) callback(pid, returncode);
}

PidfdChildWatcher::PidfdChildWatcher() : state_(std::make_shared<State>()) {}

PidfdChildWatcher::~PidfdChildWatcher() = default;

void PidfdChildWatcher::add_child_handler(pid_t pid, ChildCallback callback) {
  EventLoop* loop = EventLoop::running_loop();
  if (loop == nullptr) throw RuntimeError("no running event loop");
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->entries.find(pid);
    if (it != state_->entries.end() && it->second->loop() == loop) {
      it->second->replace_callback(std::move(callback));
      return;
    }
  }
  remove_child_handler(pid);  // registered on another loop: that one no longer reports it
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) throw_errno("pidfd_open(" + std::to_string(pid) + ")");
  auto* entry = new PidfdEntry(state_, *loop, pid, pidfd, std::move(callback));
  entry->start();
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->entries[pid] = entry;
}

bool PidfdChildWatcher::remove_child_handler(pid_t pid) {
  PidfdEntry* entry = nullptr;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->entries.find(pid);
    if (it == state_->entries.end()) return false;
    entry = it->second;
    state_->entries.erase(it);
  }
  if (EventLoop::running_loop() == entry->loop()) {
    entry->cancel();
  } else {
    // The entry belongs to another thread's loop: it cancels itself there. If that loop has
    // closed meanwhile, its close already deleted the entry (and post() refuses).
    entry->loop()->poster()->post([entry] { entry->cancel(); });
  }
  return true;
}

void PidfdChildWatcher::close() {
  // Nothing to release: each child's pidfd belongs to its loop (CPython's close() is a no-op
  // too); children still watched are reported as usual.
}

}  // namespace aio::process
