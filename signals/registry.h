// The process-wide signal table (signals are process state): for each signal number, which
// event loop owns it and where its OS handler writes.
//
// The OS handler is async-signal-safe and does one thing: it writes the signal number, as one
// byte, to the write end of the owning loop's signal pipe (the per-signal analogue of Python's
// signal.set_wakeup_fd). If that pipe is full it sets the signal's overflow flag and writes a
// 0 byte, so a burst larger than the pipe still runs the callback at least once more.
//
// One owner per signal: claiming a signal another loop owns is refused (RuntimeError), never
// silently stolen. Mutations are serialised by a mutex; the handler only reads atomics, and a
// release waits until no handler is between reading a slot and finishing its write, so the
// owner may close its pipe right after release() returns.
#ifndef AIO_SIGNALS_REGISTRY_H_
#define AIO_SIGNALS_REGISTRY_H_

#include <signal.h>

namespace aio::internal {

class SignalRegistry {
 public:
  // Byte written when a write found the pipe full: "look at the overflow flags".
  static constexpr unsigned char kOverflowMarker = 0;

  // Installs the handler for `sig` (SA_RESTART, as asyncio's siginterrupt(sig, False)),
  // writing to `write_fd`, for `owner`. Re-claiming a signal one already owns only updates the
  // fd. RuntimeError("sig N is handled by another event loop") if another owner has it;
  // RuntimeError("sig N cannot be caught") if sigaction says EINVAL (SIGKILL, SIGSTOP);
  // OSError for another errno. On failure the table and the disposition are unchanged.
  // `sig` must be a valid signal number (1 <= sig < NSIG).
  static void claim(int sig, const void* owner, int write_fd);

  enum class Restore {
    kDefault,   // SIG_DFL (SIGINT: the loop's Ctrl-C behaviour): remove_signal_handler
    kPrevious,  // what was installed before the claim: close()
  };
  // Gives `sig` back if `owner` has it (else does nothing). A handler already running for it
  // has finished when this returns. Never throws: a failing sigaction (which cannot happen
  // for a disposition that was installed once) is ignored.
  static void release(int sig, const void* owner, Restore how) noexcept;

  // True (and clears the flag) if a delivery of `sig` found the pipe full since the last call.
  static bool take_overflow(int sig) noexcept;

  // The owner of `sig`, or nullptr.
  static const void* owner(int sig) noexcept;
};

}  // namespace aio::internal

#endif  // AIO_SIGNALS_REGISTRY_H_
