#include "loop/future.h"

#include <algorithm>

namespace aio::internal {

FutureCore::~FutureCore() { report_if_unretrieved(); }

void FutureCore::report_unretrieved() noexcept {
  if (*loop_ == nullptr) return;
  exception_unretrieved_ = false;
  // asyncio's Future.__del__: an exception nobody looked at is reported, once, now.
  ExceptionContext context;
  context.message = std::string(kind_name_) + " exception was never retrieved";
  context.exception = exception_;
  context.details[kind_name_ == std::string_view("Task") ? "task" : "future"] = repr();
  if ((*loop_)->get_debug()) context.source_traceback = where_;
  try {
    (*loop_)->call_exception_handler(context);
  } catch (...) {
    // A destructor cannot propagate; an interrupt raised by a handler here is dropped.
  }
}

void FutureCore::throw_loop_destroyed() {
  throw RuntimeError("the future's event loop was destroyed");
}

void FutureCore::throw_not_finished() const {
  if (status_ == Status::kCancelled) throw CancelledError(cancel_message_);
  throw InvalidStateError("Result is not ready.");
}

void FutureCore::throw_not_settable() const {
  throw InvalidStateError(
      std::string(status_ == Status::kCancelled ? "CANCELLED: " : "FINISHED: ") + repr());
}

void FutureCore::finish_with_exception(std::exception_ptr error) {
  check_settable();
  if (!error) throw TypeError("set_exception() needs an exception, not an empty exception_ptr");
  exception_ = std::move(error);
  status_ = Status::kFinished;
  exception_unretrieved_ = true;
  schedule_callbacks();
}

bool FutureCore::cancel_future(std::string message) {
  exception_unretrieved_ = false;
  if (status_ != Status::kPending) return false;
  status_ = Status::kCancelled;
  cancel_message_ = std::move(message);
  schedule_callbacks();
  return true;
}

DoneCallbackId FutureCore::add_callback(Run run, const void* identity) {
  DoneCallbackId id = next_id_++;
  if (done()) {
    loop().post_soon([self = self_ref(), run = std::move(run)]() mutable { run(self); });
  } else {
    // Keep registration order: a waiter in the fast slot goes to the list first.
    if (first_waiter_) {
      callbacks_.push_back(DoneCallback{0, nullptr, nullptr, std::move(first_waiter_)});
    }
    callbacks_.push_back(DoneCallback{id, identity, std::move(run), nullptr});
  }
  return id;
}

void FutureCore::wake_soon(Ref<FutureCore> waiter) {
  const FutureCore* named = waiter.get();
  loop().post_soon(
      [waiter = std::move(waiter)]() mutable {
        FutureCore* target = waiter.get();
        target->wake(std::move(waiter));
      },
      [](const void* w) { return static_cast<const FutureCore*>(w)->repr(); }, named);
}

void FutureCore::add_waiter(Ref<FutureCore> waiter) {
  if (done()) {
    wake_soon(std::move(waiter));
  } else if (callbacks_.empty() && !first_waiter_) {
    first_waiter_ = std::move(waiter);  // the usual case: one task awaits, nothing else
  } else {
    if (first_waiter_) {
      callbacks_.push_back(DoneCallback{0, nullptr, nullptr, std::move(first_waiter_)});
    }
    callbacks_.push_back(DoneCallback{0, nullptr, nullptr, std::move(waiter)});
  }
}

template <class Pred>
static std::size_t erase_callbacks_if(std::vector<FutureCore::DoneCallback>& callbacks, Pred pred) {
  auto kept_end = std::remove_if(callbacks.begin(), callbacks.end(), pred);
  std::size_t removed = static_cast<std::size_t>(callbacks.end() - kept_end);
  callbacks.erase(kept_end, callbacks.end());
  return removed;
}

std::size_t FutureCore::remove_callbacks(DoneCallbackId id) {
  return erase_callbacks_if(callbacks_, [id](const DoneCallback& cb) { return cb.id == id; });
}

std::size_t FutureCore::remove_callbacks_by_identity(const void* identity) {
  if (identity == nullptr) return 0;
  return erase_callbacks_if(callbacks_,
                            [identity](const DoneCallback& cb) { return cb.identity == identity; });
}

void FutureCore::clear_callbacks() noexcept {
  first_waiter_.reset();
  callbacks_.clear();
}

void FutureCore::schedule_callbacks() {
  if (first_waiter_) {
    wake_soon(std::move(first_waiter_));  // by the invariant, the list is empty
    return;
  }
  if (callbacks_.empty()) return;
  // Taken out first: callbacks may add or remove callbacks while they are being scheduled.
  std::vector<DoneCallback> callbacks;
  callbacks.swap(callbacks_);
  Ref<FutureCore> self;  // only generic callbacks need it
  for (DoneCallback& cb : callbacks) {
    if (cb.waiter) {
      wake_soon(std::move(cb.waiter));
      continue;
    }
    if (!self) self = self_ref();
    loop().post_soon([self, run = std::move(cb.run)]() mutable { run(self); });
  }
}

std::string FutureCore::repr() const {
  std::string text = std::string("<") + kind_name_;
  switch (status_) {
    case Status::kPending:
      text += " pending";
      break;
    case Status::kCancelled:
      text += " cancelled";
      break;
    case Status::kFinished:
      text += " finished";
      break;
  }
  text += repr_extra();
  if (status_ == Status::kFinished && exception_) {
    text += " exception=" + describe_exception(exception_);
  }
  if (*loop_ != nullptr && (*loop_)->get_debug()) {
    text += std::string(" created at ") + where_.file_name() + ":" + std::to_string(where_.line());
  }
  return text + ">";
}

}  // namespace aio::internal
