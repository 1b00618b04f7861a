// Debug mode's checks (AIO_DEBUG or set_debug(true), asyncio's debug mode): non-thread-safe
// calls from another thread are refused, and callbacks slower than slow_callback_duration are
// logged. Kept out of the hot paths: each is reached only when debug_ is set.
#include <cstdio>
#include <string>

#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/logging.h"

namespace aio {

void EventLoop::check_thread() const {
  if (running_ && running_loop() != this) {
    throw RuntimeError(
        "Non-thread-safe operation invoked on an event loop other than the current one");
  }
}

void EventLoop::report_if_slow(State* state, double took) const {
  if (took < slow_callback_duration) return;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", took);
  std::string name =
      state->describe ? state->describe(state->describe_arg) : Handle::borrow(state).repr();
  log(LogLevel::kWarning, "Executing " + name + " took " + seconds + " seconds");
}

}  // namespace aio
