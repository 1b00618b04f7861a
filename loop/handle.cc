#include "loop/handle.h"

#include <cstdio>
#include <string>

#include "loop/event_loop.h"

namespace aio {
void Handle::cancel() {
  if (state_ == nullptr || state_->cancelled) return;
  state_->cancelled = true;
  if (!state_->running) state_->callback = nullptr;
  if (state_->in_timer_queue) state_->loop->on_timer_cancelled();
}

std::source_location Handle::source_location() const noexcept {
  return state_ ? state_->where : std::source_location();
}

std::string Handle::repr() const {
  if (state_ == nullptr) return "<Handle empty>";
  std::string text =
      state_->kind == internal::HandleState::Kind::kTimer ? "<TimerHandle" : "<Handle";
  if (state_->kind == internal::HandleState::Kind::kTimer) {
    char when[48];
    std::snprintf(when, sizeof when, " when=%.6f", state_->when);
    text += when;
  }
  if (state_->cancelled) {
    text += " cancelled";
  } else {
    text += " " + internal::demangle_type(*state_->callback_type) + "()";
  }
  if (state_->debug) {
    text += std::string(" created at ") + state_->where.file_name() + ":" +
            std::to_string(state_->where.line());
  }
  return text + ">";
}

}  // namespace aio
