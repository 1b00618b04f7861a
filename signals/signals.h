// Unix signals on the event loop: asyncio's loop.add_signal_handler / remove_signal_handler
// (CPython 3.8's unix_events.py), as free functions taking the loop, like //net's
// aio::create_server(loop, ...):
//
//   aio::add_signal_handler(loop, SIGTERM, [&] { server->close(); loop.stop(); });
//   aio::remove_signal_handler(loop, SIGTERM);  // true: a handler was removed
//
// The callback runs on the loop thread, as an ordinary callback (call_soon), once per delivery
// of the signal; a signal that arrives while the loop waits in poll wakes it at once.
// Exceptions it throws go to the loop's exception handler. See signals/registry.h for the
// process-wide table and docs/API.md for the rules (main thread, one loop per signal, SIGINT).
#ifndef AIO_SIGNALS_SIGNALS_H_
#define AIO_SIGNALS_SIGNALS_H_

#include <signal.h>

#include <concepts>
#include <memory>
#include <source_location>
#include <type_traits>
#include <utility>

#include "loop/event_loop.h"

namespace aio {

// What add_signal_handler accepts: a callable taking no arguments and returning void. A
// coroutine function (it returns a Coro) or a coroutine object is refused at compile time,
// as asyncio refuses them at run time ("coroutines cannot be used with add_signal_handler()").
template <class F>
concept SignalCallback =
    std::invocable<std::decay_t<F>&> && std::is_void_v<std::invoke_result_t<std::decay_t<F>&>> &&
    std::constructible_from<std::decay_t<F>, F>;

namespace internal {

// One handler, shared by the loop's table and every delivery queued for it (a delivery
// already queued still runs after the handler is removed or replaced, as in asyncio).
class SignalHandler {
 public:
  virtual ~SignalHandler() = default;
  // Queues one run of the callback on `loop` (call_soon).
  virtual void post(EventLoop& loop, const std::shared_ptr<SignalHandler>& self) = 0;
};

template <class F>
class SignalHandlerOf;

// The callable each delivery queues: its type names the user's callback in Handle::repr().
template <class F>
struct SignalDelivery {
  std::shared_ptr<SignalHandlerOf<F>> handler;
  void operator()() { handler->callback(); }
};

template <class F>
class SignalHandlerOf final : public SignalHandler {
 public:
  SignalHandlerOf(F callback, std::source_location where)
      : callback(std::move(callback)), where_(where) {}
  void post(EventLoop& loop, const std::shared_ptr<SignalHandler>& self) override {
    loop.call_soon(SignalDelivery<F>{std::static_pointer_cast<SignalHandlerOf>(self)}, where_);
  }
  F callback;

 private:
  std::source_location where_;
};

// ValueError("invalid signal number N") unless 1 <= sig < NSIG and the C library lets
// programs use it (glibc keeps 32 and 33 for itself): asyncio's _check_signal.
void check_signal(int sig);
void add_signal_handler(EventLoop& loop, int sig, std::shared_ptr<SignalHandler> handler);

}  // namespace internal

// loop.add_signal_handler(sig, callback): replaces any handler the loop already has for `sig`.
// Errors, checked in asyncio's order: ValueError for an invalid number; RuntimeError("Event
// loop is closed"); RuntimeError("set_wakeup_fd only works in main thread") off the main
// thread; RuntimeError (with the OSError's text) if the loop's self-pipe cannot be made, e.g.
// out of fds; RuntimeError("sig N is handled by another event loop") if another open loop has
// `sig`; RuntimeError("sig N cannot be caught") for SIGKILL/SIGSTOP. After an error nothing
// has changed.
template <class F>
  requires SignalCallback<F>
void add_signal_handler(EventLoop& loop, int sig, F&& callback,
                        std::source_location where = std::source_location::current()) {
  using Fn = std::decay_t<F>;
  internal::add_signal_handler(
      loop, sig,
      std::make_shared<internal::SignalHandlerOf<Fn>>(Fn(std::forward<F>(callback)), where));
}

// loop.remove_signal_handler(sig): true if the loop had a handler for `sig` (the signal's
// disposition is then SIG_DFL again; for SIGINT, the Ctrl-C behaviour of
// loop/keyboard_interrupt.h), false if it had none (also for SIGKILL and SIGSTOP, and on a
// closed loop). ValueError for an invalid number; ValueError("signal only works in main
// thread") off the main thread when there is a handler to remove (asyncio's signal.signal).
bool remove_signal_handler(EventLoop& loop, int sig);

}  // namespace aio

#endif  // AIO_SIGNALS_SIGNALS_H_
