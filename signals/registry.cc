#include "signals/registry.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>

#include "loop/errors.h"
#include "loop/keyboard_interrupt.h"

namespace aio::internal {
namespace {

struct Slot {
  std::atomic<int> fd{-1};  // the owner's pipe; read by the handler
  std::atomic<bool> overflow{false};
  const void* owner = nullptr;     // guarded by g_mutex
  struct sigaction previous = {};  // what the claim replaced; guarded by g_mutex
};

Slot g_slots[NSIG];
std::mutex g_mutex;
// Handlers between loading a slot's fd and finishing their writes (see release()).
std::atomic<int> g_in_flight{0};

void write_byte(int fd, unsigned char byte) {
  ssize_t n;
  do {
    n = ::write(fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
}

void on_signal(int sig) {
  int saved_errno = errno;
  g_in_flight.fetch_add(1, std::memory_order_seq_cst);
  Slot& slot = g_slots[sig];
  int fd = slot.fd.load(std::memory_order_seq_cst);
  if (fd >= 0) {
    unsigned char byte = static_cast<unsigned char>(sig);
    if (::write(fd, &byte, 1) < 0 && errno == EAGAIN) {
      // Full pipe: flag first, then write the marker. If the marker fits, the loop wakes and
      // looks at the flags; if it does not, the loop has not drained yet and looks after it.
      slot.overflow.store(true, std::memory_order_seq_cst);
      write_byte(fd, SignalRegistry::kOverflowMarker);
    }
  }
  g_in_flight.fetch_sub(1, std::memory_order_seq_cst);
  errno = saved_errno;
}

void wait_for_handlers() {
  while (g_in_flight.load(std::memory_order_seq_cst) != 0) sched_yield();
}

}  // namespace

void SignalRegistry::claim(int sig, const void* owner, int write_fd) {
  std::lock_guard<std::mutex> lock(g_mutex);
  Slot& slot = g_slots[sig];
  if (slot.owner == owner) {
    slot.fd.store(write_fd, std::memory_order_seq_cst);
    return;
  }
  if (slot.owner != nullptr) {
    throw RuntimeError("sig " + std::to_string(sig) + " is handled by another event loop");
  }
  struct sigaction action = {};
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESTART | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  struct sigaction previous;
  // The fd first: a signal right after sigaction() must find where to go.
  slot.fd.store(write_fd, std::memory_order_seq_cst);
  if (sigaction(sig, &action, &previous) != 0) {
    int err = errno;
    slot.fd.store(-1, std::memory_order_seq_cst);
    if (err == EINVAL) throw RuntimeError("sig " + std::to_string(sig) + " cannot be caught");
    throw_os_error(err);
  }
  slot.owner = owner;
  slot.previous = previous;
  slot.overflow.store(false);
}

void SignalRegistry::release(int sig, const void* owner, Restore how) noexcept {
  std::lock_guard<std::mutex> lock(g_mutex);
  Slot& slot = g_slots[sig];
  if (slot.owner != owner || owner == nullptr) return;
  // SIGINT's "default" is aio's Ctrl-C behaviour, and so is a saved Ctrl-C handler: a loop
  // that took SIGINT during a run must not put back a handler whose run is over.
  bool to_default =
      how == Restore::kDefault || (sig == SIGINT && is_keyboard_interrupt_handler(slot.previous));
  if (to_default && sig == SIGINT) {
    restore_default_sigint();
  } else if (to_default) {
    struct sigaction action = {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, nullptr);
  } else {
    sigaction(sig, &slot.previous, nullptr);
  }
  slot.fd.store(-1, std::memory_order_seq_cst);
  wait_for_handlers();
  slot.owner = nullptr;
  slot.previous = {};
  slot.overflow.store(false);
}

bool SignalRegistry::take_overflow(int sig) noexcept {
  return g_slots[sig].overflow.exchange(false, std::memory_order_seq_cst);
}

const void* SignalRegistry::owner(int sig) noexcept {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_slots[sig].owner;
}

}  // namespace aio::internal
