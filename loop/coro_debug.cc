// Debug mode's "coroutine ... was never awaited" report (see Coro's promise in coro.h).
#include <cstdlib>
#include <string>

#include "absl/debugging/stacktrace.h"
#include "absl/debugging/symbolize.h"
#include "loop/coro.h"
#include "loop/logging.h"

namespace aio::internal {

struct CreationTrace {
  static constexpr int kMaxFrames = 16;
  void* frames[kMaxFrames];
  int depth = 0;
};

namespace {

bool debug_from_environment() {
  static const bool enabled = [] {
    const char* value = std::getenv("AIO_DEBUG");
    return value != nullptr && *value != '\0';
  }();
  return enabled;
}

std::string symbol_at(void* pc) {
  char name[512];
  // A return address points after the call; one byte back stays inside the calling function.
  if (absl::Symbolize(static_cast<char*>(pc) - 1, name, sizeof name)) return name;
  return "??";
}

}  // namespace

CreationTrace* capture_creation_trace_if_debug() {
  EventLoop* loop = EventLoop::running_loop();
  if (!(loop != nullptr ? loop->get_debug() : debug_from_environment())) return nullptr;
  auto* trace = new CreationTrace;
  // Skip this function: the stack starts in the coroutine function (its ramp) or its caller.
  trace->depth = absl::GetStackTrace(trace->frames, CreationTrace::kMaxFrames, /*skip_count=*/1);
  return trace;
}

// The coroutine's name: clang and GCC lay a frame out with its resume function first, and a
// coroutine that never ran still has it. (The creation stack cannot name it reliably: the
// coroutine's ramp function may be inlined into its caller.)
std::string coroutine_name(void* frame) {
  void* resume = *static_cast<void**>(frame);
  char name[512];
  if (resume == nullptr || !absl::Symbolize(resume, name, sizeof name)) return "??";
  std::string text = name;
  std::size_t clone = text.find(" [clone");
  return clone == std::string::npos ? text : text.substr(0, clone);
}

void finish_creation_trace(CreationTrace* trace, bool never_started, void* frame) noexcept {
  if (never_started) {
    try {
      std::string text = "coroutine '" + coroutine_name(frame) + "' was never awaited\n" +
                         "Coroutine created at (most recent call last):";
      for (int i = trace->depth - 1; i >= 0; --i) text += "\n  " + symbol_at(trace->frames[i]);
      log(LogLevel::kWarning, text);
    } catch (...) {
      // Reporting is best effort: the coroutine is being destroyed either way.
    }
  }
  delete trace;
}

}  // namespace aio::internal
