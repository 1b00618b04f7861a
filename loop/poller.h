// The platform seam: waits for file-descriptor readiness. One implementation per OS facility
// (epoll, poll; kqueue planned), chosen by Bazel select() or at run time (make_poller).
//
// Pollers are level-triggered and know nothing of callbacks: the loop keeps the interest set
// and turns readiness into queued handles. Readiness is a hint: EAGAIN means "wait again".
#ifndef AIO_LOOP_POLLER_H_
#define AIO_LOOP_POLLER_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace aio {

enum class PollerKind {
  kDefault,  // AIO_POLLER in the environment if set, else the compiled-in default (epoll)
  kEpoll,
  kPoll,
};

namespace internal {

inline constexpr std::uint32_t kReadable = 1;
inline constexpr std::uint32_t kWritable = 2;

class Poller {
 public:
  virtual ~Poller() = default;

  virtual std::string_view name() const = 0;

  // Sets the interest of `fd` from `old_events` to `new_events` (kReadable|kWritable; 0 removes
  // it). Returns 0 or an errno value; on error the interest is unchanged.
  virtual int update(int fd, std::uint32_t old_events, std::uint32_t new_events) = 0;

  // Waits at most timeout_ms (negative: no limit) and reports each ready fd with the ready
  // subset of its interest (errors and hang-ups count as both). Returns 0 or an errno value;
  // EINTR is reported as 0 with no events.
  virtual int poll(int timeout_ms, absl::FunctionRef<void(int fd, std::uint32_t events)> ready) = 0;
};

// Creates the poller of `kind`. Throws ValueError for an unknown AIO_POLLER value and OSError
// if the kernel facility fails.
std::unique_ptr<Poller> make_poller(PollerKind kind);

// The kind kDefault resolves to in this process.
PollerKind default_poller_kind();

}  // namespace internal
}  // namespace aio

#endif  // AIO_LOOP_POLLER_H_
