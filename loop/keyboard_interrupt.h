// Ctrl-C as asyncio users know it: while a loop runs on the main thread and nobody else has
// claimed SIGINT, a SIGINT ends the run with aio::KeyboardInterrupt (Python's default
// SIGINT handler raises KeyboardInterrupt out of the selector's select()).
//
// Exactly when SIGINT is touched (docs/API.md repeats it):
//  - run_forever() on the main thread, if SIGINT's disposition is SIG_DFL when it starts,
//    installs aio's handler (SA_RESTART) for the length of the run and puts SIG_DFL back when
//    the run ends (unless something else replaced aio's handler meanwhile). Any other
//    disposition (SIG_IGN, a program's own handler, add_signal_handler(SIGINT)) is left alone.
//  - The handler only sets a flag and writes the running loop's eventfd (async-signal-safe);
//    the loop throws KeyboardInterrupt right after its next poll returns, before it takes any
//    new callbacks, so nothing queued is lost and the loop stays usable.
//  - The first time that happens, a std::terminate hook is installed: an uncaught
//    KeyboardInterrupt then ends the process by SIGINT (as Python 3.8 does), not by abort().
// A loop on any other thread never touches SIGINT.
#ifndef AIO_LOOP_KEYBOARD_INTERRUPT_H_
#define AIO_LOOP_KEYBOARD_INTERRUPT_H_

#include <signal.h>

#include <atomic>

namespace aio::internal {

class Wakeup;

// Set by the SIGINT handler; read after every poll (one relaxed load on the hot path).
extern std::atomic<bool> g_keyboard_interrupt_pending;

// Ctrl-C handling for one run_forever(); does nothing off the main thread.
class KeyboardInterruptScope {
 public:
  explicit KeyboardInterruptScope(Wakeup& wakeup);
  ~KeyboardInterruptScope();
  KeyboardInterruptScope(const KeyboardInterruptScope&) = delete;
  KeyboardInterruptScope& operator=(const KeyboardInterruptScope&) = delete;

 private:
  bool active_ = false;
};

// Throws KeyboardInterrupt if a Ctrl-C arrived for the loop running on this thread.
void raise_keyboard_interrupt_slow(Wakeup& wakeup);
inline void raise_pending_keyboard_interrupt(Wakeup& wakeup) {
  if (g_keyboard_interrupt_pending.load(std::memory_order_relaxed)) [[unlikely]] {
    raise_keyboard_interrupt_slow(wakeup);
  }
}

// For //signals, when a loop gives SIGINT back: "the default" means aio's Ctrl-C handler if a
// loop is running on the main thread now, else SIG_DFL. Returns 0 or an errno.
int restore_default_sigint() noexcept;
// True if `action` is aio's Ctrl-C handler (a disposition //signals saves counts as default).
bool is_keyboard_interrupt_handler(const struct sigaction& action) noexcept;
// True on the process's main thread (the thread whose id is the process id).
bool on_main_thread() noexcept;

}  // namespace aio::internal

#endif  // AIO_LOOP_KEYBOARD_INTERRUPT_H_
