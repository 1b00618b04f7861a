#include <cstdlib>
#include <string_view>

#include "loop/errors.h"
#include "loop/poll_poller.h"
#include "loop/poller.h"
#ifdef AIO_HAVE_EPOLL  // loop/BUILD.bazel: on Linux
#include "loop/epoll_poller.h"
#endif

namespace aio::internal {

// The build's default: epoll where there is one, unless built with --define aio_poller=poll
// (loop/BUILD.bazel).
#if defined(AIO_DEFAULT_POLLER_POLL) || !defined(AIO_HAVE_EPOLL)
static constexpr PollerKind kCompiledDefault = PollerKind::kPoll;
#else
static constexpr PollerKind kCompiledDefault = PollerKind::kEpoll;
#endif

PollerKind default_poller_kind() {
  const char* forced = std::getenv("AIO_POLLER");
  if (forced == nullptr || *forced == '\0') return kCompiledDefault;
  std::string_view name = forced;
  if (name == "epoll") return PollerKind::kEpoll;
  if (name == "poll") return PollerKind::kPoll;
  throw ValueError("AIO_POLLER must be 'epoll' or 'poll', not '" + std::string(name) + "'");
}

std::unique_ptr<Poller> make_poller(PollerKind kind) {
  if (kind == PollerKind::kDefault) kind = default_poller_kind();
#ifdef AIO_HAVE_EPOLL
  if (kind == PollerKind::kEpoll) return std::make_unique<EpollPoller>();
#else
  if (kind == PollerKind::kEpoll) throw ValueError("this platform has no epoll poller");
#endif
  return std::make_unique<PollPoller>();
}

}  // namespace aio::internal
