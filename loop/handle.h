// asyncio.Handle and asyncio.TimerHandle: what call_soon / call_later / call_at return.
//
// A handle is a cheap, reference-counted view of one scheduled callback. The loop's queues and
// the user's copies share the state; the callback (and everything it captured) is destroyed as
// soon as it has run or been cancelled, whoever still holds the handle.
#ifndef AIO_LOOP_HANDLE_H_
#define AIO_LOOP_HANDLE_H_

#include <atomic>
#include <compare>
#include <cstdint>
#include <source_location>
#include <string>
#include <typeinfo>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "loop/free_list.h"

namespace aio {

class EventLoop;

// A scheduled callback: move-only, called with no arguments (bind arguments with a lambda).
using Callback = absl::AnyInvocable<void()>;

namespace internal {

// The state a Handle points to. Owned by its reference count; touched by the loop's thread
// only, except for the count itself (a handle from call_soon_threadsafe is made elsewhere).
struct HandleState {
  enum class Kind : std::uint8_t { kOneShot, kTimer, kWatcher };

  HandleState(EventLoop* loop, Callback callback, Kind kind, const std::type_info& callback_type,
              std::source_location where, bool debug, std::uint32_t initial_refs)
      : refs(initial_refs),
        loop(loop),
        callback(std::move(callback)),
        callback_type(&callback_type),
        where(where),
        kind(kind),
        debug(debug) {}

  static void* operator new(std::size_t size) {
    return size == sizeof(HandleState) ? FreeList<sizeof(HandleState)>::allocate()
                                       : ::operator new(size);
  }
  static void operator delete(void* block, std::size_t size) noexcept {
    if (size == sizeof(HandleState)) {
      FreeList<sizeof(HandleState)>::deallocate(block);
    } else {
      ::operator delete(block);
    }
  }

  void ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void unref() noexcept {
    // Holding the last reference, nobody else can touch the count: skip the locked RMW.
    if (refs.load(std::memory_order_acquire) == 1 ||
        refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete this;
    }
  }

  std::atomic<std::uint32_t> refs;
  EventLoop* loop;
  Callback callback;
  const std::type_info* callback_type;  // for the string form
  std::source_location where;           // creation site, shown in debug mode
  double when = 0;                      // timers: absolute loop time
  // Optional: how slow-callback warnings name this handle (a task step names its task).
  std::string (*describe)(const void* arg) = nullptr;
  const void* describe_arg = nullptr;
  Kind kind;
  bool debug;  // the loop's debug mode when the handle was made: repr() shows the site then
  bool cancelled = false;
  bool running = false;         // its callback is executing: destroy it only afterwards
  bool in_timer_queue = false;  // timers: still in the loop's heap (for lazy purging)
};

}  // namespace internal

class Handle {
 public:
  Handle() = default;  // an empty handle: cancel() does nothing, cancelled() is false
  Handle(const Handle& other) noexcept : state_(other.state_) {
    if (state_) state_->ref();
  }
  Handle(Handle&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  Handle& operator=(Handle other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~Handle() {
    if (state_) state_->unref();
  }

  // Cancels the callback; no effect if it already ran or was cancelled. The callback object is
  // destroyed at once. Not thread-safe (as in asyncio): from another thread, use
  // loop.call_soon_threadsafe([h] { h.cancel(); }).
  void cancel();
  bool cancelled() const noexcept { return state_ && state_->cancelled; }

  // asyncio's repr(): "<Handle main()::$_0>", "<Handle cancelled>", and in debug mode
  // " created at file.cc:12" at the end.
  std::string repr() const;

  explicit operator bool() const noexcept { return state_ != nullptr; }
  friend bool operator==(const Handle& a, const Handle& b) noexcept { return a.state_ == b.state_; }

  // The creation site recorded when the handle was made.
  std::source_location source_location() const noexcept;

  // Internal: adopts one reference to `state`.
  explicit Handle(internal::HandleState* state) noexcept : state_(state) {}
  // Internal: gives up the reference without dropping it.
  internal::HandleState* release() noexcept { return std::exchange(state_, nullptr); }
  // Internal: takes a new reference to `state`.
  static Handle borrow(internal::HandleState* state) noexcept {
    state->ref();
    return Handle(state);
  }
  internal::HandleState* state() const noexcept { return state_; }

 protected:
  internal::HandleState* state_ = nullptr;
};

class TimerHandle : public Handle {
 public:
  TimerHandle() = default;
  explicit TimerHandle(internal::HandleState* state) noexcept : Handle(state) {}

  // The scheduled time, in the loop.time() reference.
  double when() const noexcept { return state_ ? state_->when : 0; }

  // Timer handles order by when(), as asyncio's TimerHandle does.
  friend std::partial_ordering operator<=>(const TimerHandle& a, const TimerHandle& b) noexcept {
    return a.when() <=> b.when();
  }
  friend bool operator==(const TimerHandle& a, const TimerHandle& b) noexcept {
    return a.state_ == b.state_;
  }
};

}  // namespace aio

#endif  // AIO_LOOP_HANDLE_H_
