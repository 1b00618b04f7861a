#include "loop/keyboard_interrupt.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "loop/errors.h"
#include "loop/wakeup.h"

namespace aio::internal {

std::atomic<bool> g_keyboard_interrupt_pending{false};

namespace {

// The eventfd of the loop running on the main thread (-1: none). The handler writes it.
std::atomic<int> g_wakeup_fd{-1};
// Handlers between reading g_wakeup_fd and finishing their write: a scope that ends waits for
// them, so the loop's eventfd is never closed under a write (and its number never reused).
std::atomic<int> g_in_flight{0};
// A loop is running on the main thread (read by restore_default_sigint from any thread).
std::atomic<bool> g_main_run_active{false};
// Serialises every decision about SIGINT's disposition made here.
std::mutex g_disposition_mutex;
// The thread whose loop may take the pending flag: only the main thread, while it runs.
thread_local bool t_scope_active = false;

void on_sigint(int) {
  int saved_errno = errno;
  g_in_flight.fetch_add(1, std::memory_order_seq_cst);
  int fd = g_wakeup_fd.load(std::memory_order_seq_cst);
  if (fd >= 0) {
    g_keyboard_interrupt_pending.store(true, std::memory_order_seq_cst);
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
  } else {
    // Installed while no loop runs (a stale disposition): do what SIG_DFL would have done.
    ::signal(SIGINT, SIG_DFL);
    ::raise(SIGINT);  // blocked until this handler returns, then it terminates the process
  }
  g_in_flight.fetch_sub(1, std::memory_order_seq_cst);
  errno = saved_errno;
}

struct sigaction handler_action() {
  struct sigaction action = {};
  action.sa_handler = on_sigint;
  action.sa_flags = SA_RESTART | SA_ONSTACK;  // asyncio's siginterrupt(sig, False)
  sigemptyset(&action.sa_mask);
  return action;
}

bool is_default(const struct sigaction& action) {
  return !(action.sa_flags & SA_SIGINFO) && action.sa_handler == SIG_DFL;
}

// An uncaught KeyboardInterrupt ends the process by SIGINT, as an uncaught KeyboardInterrupt
// ends Python 3.8 (and as Ctrl-C ends a C program): the shell sees "interrupted", not a crash.
std::terminate_handler g_previous_terminate = nullptr;

[[noreturn]] void terminate_by_sigint() {
  if (std::exception_ptr error = std::current_exception()) {
    try {
      std::rethrow_exception(error);
    } catch (const KeyboardInterrupt&) {
      ::signal(SIGINT, SIG_DFL);
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGINT);
      pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
      ::raise(SIGINT);
    } catch (...) {
    }
  }
  if (g_previous_terminate != nullptr) g_previous_terminate();
  std::abort();
}

void install_terminate_hook_once() {
  static bool installed = false;  // main thread only
  if (installed) return;
  installed = true;
  g_previous_terminate = std::set_terminate(terminate_by_sigint);
}

}  // namespace

bool on_main_thread() noexcept { return gettid() == getpid(); }

bool is_keyboard_interrupt_handler(const struct sigaction& action) noexcept {
  return !(action.sa_flags & SA_SIGINFO) && action.sa_handler == on_sigint;
}

KeyboardInterruptScope::KeyboardInterruptScope(Wakeup& wakeup) {
  if (!on_main_thread()) return;
  active_ = true;
  t_scope_active = true;
  std::lock_guard<std::mutex> lock(g_disposition_mutex);
  g_wakeup_fd.store(wakeup.fd(), std::memory_order_seq_cst);
  g_main_run_active.store(true);
  struct sigaction current;
  if (sigaction(SIGINT, nullptr, &current) == 0 && is_default(current)) {
    struct sigaction action = handler_action();
    sigaction(SIGINT, &action, nullptr);
  }
}

KeyboardInterruptScope::~KeyboardInterruptScope() {
  if (!active_) return;
  t_scope_active = false;
  std::lock_guard<std::mutex> lock(g_disposition_mutex);
  struct sigaction current;
  if (sigaction(SIGINT, nullptr, &current) == 0 && is_keyboard_interrupt_handler(current)) {
    struct sigaction action = {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
  }
  g_main_run_active.store(false);
  g_wakeup_fd.store(-1, std::memory_order_seq_cst);
  while (g_in_flight.load(std::memory_order_seq_cst) != 0) sched_yield();
  // A Ctrl-C this run did not turn into KeyboardInterrupt (the run was ending by another
  // exception, or it came after the last check) is not lost: it goes to whatever disposition
  // applies now (SIG_DFL ends the process, as without aio).
  if (g_keyboard_interrupt_pending.exchange(false, std::memory_order_seq_cst)) ::raise(SIGINT);
}

void raise_keyboard_interrupt_slow(Wakeup& wakeup) {
  if (!t_scope_active) return;  // another thread's loop: the flag is the main thread's
  if (!g_keyboard_interrupt_pending.exchange(false, std::memory_order_seq_cst)) return;
  // The handler's eventfd write: consumed here (a thread-safe callback's own write is
  // re-armed by its flag, see EventLoop::take_threadsafe_callbacks).
  wakeup.drain();
  install_terminate_hook_once();
  throw KeyboardInterrupt();
}

int restore_default_sigint() noexcept {
  std::lock_guard<std::mutex> lock(g_disposition_mutex);
  struct sigaction action = {};
  if (g_main_run_active.load()) {
    action = handler_action();
  } else {
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
  }
  return sigaction(SIGINT, &action, nullptr) == 0 ? 0 : errno;
}

}  // namespace aio::internal
