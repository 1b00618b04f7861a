#include "signals/signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>

#include "loop/errors.h"
#include "loop/keyboard_interrupt.h"
#include "signals/registry.h"

namespace aio {
namespace internal {
namespace {

// A loop's signal state, made by its first add_signal_handler and destroyed when it closes:
// the self-pipe the OS handler writes signal numbers to, its reader, and the handler table.
class LoopSignals final : public LoopResource {
 public:
  explicit LoopSignals(EventLoop& loop) : loop_(loop) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw_errno("pipe2");
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    try {
      loop_.watch_reader(read_fd_, [this] { drain(); });
    } catch (...) {
      ::close(read_fd_);
      ::close(write_fd_);
      throw;
    }
  }

  // close(): every signal goes back to the disposition it had before this loop took it.
  ~LoopSignals() override {
    for (int sig = 1; sig < NSIG; ++sig) {
      if (handlers_[sig]) SignalRegistry::release(sig, this, SignalRegistry::Restore::kPrevious);
    }
    // The loop is closing: it drops the watcher itself; the handlers are done with the pipe.
    ::close(read_fd_);
    ::close(write_fd_);
  }

  void add(int sig, std::shared_ptr<SignalHandler> handler) {
    SignalRegistry::claim(sig, this, write_fd_);  // throws with nothing changed
    handlers_[sig] = std::move(handler);
  }

  bool remove(int sig) {
    if (!handlers_[sig]) return false;
    if (!on_main_thread()) throw ValueError("signal only works in main thread");
    handlers_[sig].reset();
    SignalRegistry::release(sig, this, SignalRegistry::Restore::kDefault);
    return true;
  }

 private:
  // asyncio's _read_from_self + _process_self_data: one queued run per signal number read.
  void drain() {
    unsigned char bytes[4096];
    while (true) {
      ssize_t n = ::read(read_fd_, bytes, sizeof bytes);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EAGAIN: empty
      for (ssize_t i = 0; i < n; ++i) deliver(bytes[i]);
    }
    // Deliveries that found the pipe full (at most one run each: the kernel coalesces too).
    for (int sig = 1; sig < NSIG; ++sig) {
      if (handlers_[sig] && SignalRegistry::take_overflow(sig)) deliver(sig);
    }
  }

  void deliver(int sig) {
    if (sig <= 0 || sig >= NSIG) return;  // the overflow marker
    // No handler: removed after the signal came (asyncio: "some race condition").
    if (std::shared_ptr<SignalHandler> handler = handlers_[sig]) handler->post(loop_, handler);
  }

  EventLoop& loop_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::array<std::shared_ptr<SignalHandler>, NSIG> handlers_;
};

constexpr char kLoopSignalsKey = 0;

LoopSignals* find(EventLoop& loop) {
  return static_cast<LoopSignals*>(loop.extension(&kLoopSignalsKey));
}

}  // namespace

void check_signal(int sig) {
  sigset_t valid;
  sigfillset(&valid);
  if (sig < 1 || sig >= NSIG || sigismember(&valid, sig) != 1) {
    throw ValueError("invalid signal number " + std::to_string(sig));
  }
}

void add_signal_handler(EventLoop& loop, int sig, std::shared_ptr<SignalHandler> handler) {
  check_signal(sig);
  if (loop.is_closed()) throw RuntimeError("Event loop is closed");
  // asyncio calls signal.set_wakeup_fd() first for this: only the main thread may.
  if (!on_main_thread()) throw RuntimeError("set_wakeup_fd only works in main thread");
  LoopSignals* signals = find(loop);
  if (signals == nullptr) {
    std::unique_ptr<LoopSignals> made;
    try {
      made = std::make_unique<LoopSignals>(loop);
    } catch (const OSError& error) {
      // asyncio: set_wakeup_fd's failure becomes RuntimeError(str(exc)).
      throw RuntimeError(error.what());
    }
    signals = made.get();
    loop.set_extension(&kLoopSignalsKey, std::move(made));
  }
  signals->add(sig, std::move(handler));
}

}  // namespace internal

bool remove_signal_handler(EventLoop& loop, int sig) {
  internal::check_signal(sig);
  if (loop.is_closed()) return false;
  internal::LoopSignals* signals = internal::find(loop);
  return signals != nullptr && signals->remove(sig);
}

}  // namespace aio
