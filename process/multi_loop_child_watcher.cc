#include "process/multi_loop_child_watcher.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/logging.h"
#include "process/child_status.h"

namespace aio::process {
namespace {

// What the handler reads: process state, like the disposition itself.
std::atomic<int> g_wake_fd{-1};
// Handlers between loading g_wake_fd and finishing their write: close() waits for none before
// closing the pipe, so a late handler never writes into a reused fd.
std::atomic<int> g_in_handler{0};
// The watcher holding SIGCHLD (one at a time).
std::mutex g_owner_mutex;
const MultiLoopChildWatcher* g_owner = nullptr;  // guarded by g_owner_mutex

// Async-signal-safe: one byte says "look"; a full pipe already says it.
void on_sigchld(int) {
  int saved_errno = errno;
  g_in_handler.fetch_add(1, std::memory_order_acquire);
  int fd = g_wake_fd.load(std::memory_order_acquire);
  if (fd >= 0) {
    char byte = 'C';
    [[maybe_unused]] ssize_t n = ::write(fd, &byte, 1);
  }
  g_in_handler.fetch_sub(1, std::memory_order_release);
  errno = saved_errno;
}

constexpr char kStop = 'S';

}  // namespace

MultiLoopChildWatcher::~MultiLoopChildWatcher() { close(); }

bool MultiLoopChildWatcher::is_active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return installed_;
}

void MultiLoopChildWatcher::attach_loop(EventLoop* loop) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!installed_) install();
  liveness_ = loop != nullptr ? loop->liveness() : nullptr;
}

void MultiLoopChildWatcher::install() {
  {
    std::lock_guard<std::mutex> owner_lock(g_owner_mutex);
    if (g_owner != nullptr) {
      throw RuntimeError("SIGCHLD is handled by another MultiLoopChildWatcher");
    }
    g_owner = this;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    int err = errno;
    std::lock_guard<std::mutex> owner_lock(g_owner_mutex);
    g_owner = nullptr;
    throw_os_error(err, "cannot make the SIGCHLD wakeup pipe");
  }
  wake_read_ = fds[0];
  wake_write_ = fds[1];
  try {
    reaper_ = std::thread([this] { run_reaper(); });
  } catch (const std::system_error& e) {
    ::close(wake_read_);
    ::close(wake_write_);
    wake_read_ = wake_write_ = -1;
    std::lock_guard<std::mutex> owner_lock(g_owner_mutex);
    g_owner = nullptr;
    throw RuntimeError(std::string("can't start new thread: ") + e.what());
  }
  pthread_setname_np(reaper_.native_handle(), "aio-sigchld");
  g_wake_fd.store(wake_write_, std::memory_order_release);
  struct sigaction action{};
  action.sa_handler = on_sigchld;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGCHLD, &action, &saved_);  // cannot fail for SIGCHLD and a valid handler
  installed_ = true;
  // 3.8 looks only when SIGCHLD comes; a child that exited before the handler was there would
  // wait for the next one. Look once now.
  char byte = 'C';
  [[maybe_unused]] ssize_t n = ::write(wake_write_, &byte, 1);
}

void MultiLoopChildWatcher::close() {
  std::unique_lock<std::mutex> lock(mutex_);
  callbacks_.clear();
  liveness_ = nullptr;
  if (!installed_) return;
  installed_ = false;
  struct sigaction current{};
  ::sigaction(SIGCHLD, nullptr, &current);
  bool replaced = current.sa_handler != on_sigchld;
  if (!replaced) ::sigaction(SIGCHLD, &saved_, nullptr);
  g_wake_fd.store(-1, std::memory_order_release);
  while (g_in_handler.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  // The helper takes mutex_ to look up callbacks: let it finish without us holding it. (Nor is
  // anything logged under mutex_: a log sink may take locks of its own.)
  lock.unlock();
  if (replaced) log(LogLevel::kWarning, "SIGCHLD handler was changed by outside code");
  char stop = kStop;
  while (::write(wake_write_, &stop, 1) < 0 && errno == EINTR) {
  }
  reaper_.join();
  ::close(wake_read_);
  ::close(wake_write_);
  wake_read_ = wake_write_ = -1;
  std::lock_guard<std::mutex> owner_lock(g_owner_mutex);
  g_owner = nullptr;
}

void MultiLoopChildWatcher::add_child_handler(pid_t pid, ChildCallback callback) {
  internal::check_pid(pid);
  EventLoop* loop = EventLoop::running_loop();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (loop == nullptr && liveness_ != nullptr) loop = *liveness_;
    if (loop == nullptr) throw RuntimeError("no running event loop");
    callbacks_[pid] = Entry{loop->poster(), loop, std::move(callback)};
  }
  do_waitpid(pid);  // the child may have exited already
}

bool MultiLoopChildWatcher::remove_child_handler(pid_t pid) {
  std::lock_guard<std::mutex> lock(mutex_);
  return callbacks_.erase(pid) > 0;
}

void MultiLoopChildWatcher::run_reaper() {
  char buffer[64];
  while (true) {
    pollfd wake{wake_read_, POLLIN, 0};
    if (::poll(&wake, 1, -1) < 0) continue;  // EINTR
    ssize_t n = ::read(wake_read_, buffer, sizeof buffer);
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] == kStop) return;
    }
    if (n > 0) do_waitpid_all();
  }
}

void MultiLoopChildWatcher::do_waitpid_all() {
  std::vector<pid_t> pids;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [pid, entry] : callbacks_) pids.push_back(pid);
  }
  for (pid_t pid : pids) do_waitpid(pid);
}

void MultiLoopChildWatcher::do_waitpid(pid_t expected) {
  std::lock_guard<std::mutex> reap_lock(reap_mutex_);
  Entry entry;
  int returncode;
  bool unknown = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Removed meanwhile (or handled by the other thread): leave the child alone, as a removed
    // pid is not watched any more.
    if (callbacks_.find(expected) == callbacks_.end()) return;
    int status = 0;
    pid_t pid = internal::waitpid_retrying(expected, &status, WNOHANG);
    if (pid == 0) return;  // still running
    if (pid < 0) {         // ECHILD: someone else reaped it
      returncode = internal::kUnknownChildReturncode;
      unknown = true;
    } else {
      returncode = internal::returncode_from_status(status);
    }
    auto it = callbacks_.find(expected);
    entry = std::move(it->second);
    callbacks_.erase(it);
  }
  if (unknown) internal::warn_unknown_child(expected);
  bool posted = entry.poster->post([callback = std::move(entry.callback), expected,
                                    returncode]() mutable { callback(expected, returncode); });
  if (!posted) internal::warn_loop_closed(entry.loop, expected);
}

}  // namespace aio::process
