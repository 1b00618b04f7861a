// fd watchers (add_reader/add_writer and the transports' watch_reader/watch_writer): one reader
// and one writer slot per fd, the poller told of every change, the owning transport named when
// a user tries to watch its fd, and readiness turned into ready-queue entries.
#include <string>
#include <utility>

#include "loop/errors.h"
#include "loop/event_loop.h"

namespace aio {

void EventLoop::add_watcher(int fd, std::uint32_t event, State* state) {
  Handle owner(state);  // released if registration fails
  check_closed();
  if (fd < 0) throw ValueError("Invalid file descriptor: " + std::to_string(fd));
  if (fd >= static_cast<int>(watches_.size())) watches_.resize(fd + 1);
  FdWatch& watch = watches_[fd];
  std::uint32_t events = watch.events | event;
  // Always tell the poller, even if the interest looks unchanged: the fd may have been closed
  // and its number reused since, and then epoll has silently forgotten it.
  if (int err = poller_->update(fd, watch.events, events)) throw_os_error(err);
  watch.events = events;
  State*& slot = event == internal::kReadable ? watch.reader : watch.writer;
  if (slot != nullptr) {
    Handle(slot).cancel();  // the replaced callback; drops the watch's reference
  }
  slot = owner.release();  // the creation reference becomes the watch's
}

void EventLoop::set_fd_owner(int fd, const internal::FdOwner* owner) {
  if (fd < 0) return;
  if (fd >= static_cast<int>(watches_.size())) watches_.resize(fd + 1);
  watches_[fd].owner = owner;
}

void EventLoop::throw_fd_owned(int fd) const {
  throw RuntimeError("File descriptor " + std::to_string(fd) + " is used by transport " +
                     watches_[fd].owner->repr());
}

bool EventLoop::remove_watcher(int fd, std::uint32_t event) {
  if (closed_) return false;
  if (fd < 0) throw ValueError("Invalid file descriptor: " + std::to_string(fd));
  if (fd >= static_cast<int>(watches_.size())) return false;
  FdWatch& watch = watches_[fd];
  State*& slot = event == internal::kReadable ? watch.reader : watch.writer;
  if (slot == nullptr) return false;
  std::uint32_t events = watch.events & ~event;
  // Cannot fail for a removal except on a broken poller; the callback goes away regardless.
  poller_->update(fd, watch.events, events);
  watch.events = events;
  Handle(std::exchange(slot, nullptr)).cancel();
  return true;
}

void EventLoop::dispatch_io(int fd, std::uint32_t events) {
  if (fd >= static_cast<int>(watches_.size())) return;
  FdWatch& watch = watches_[fd];
  if ((events & internal::kReadable) && watch.reader && !watch.reader->cancelled) {
    watch.reader->ref();
    ready_.push_back(watch.reader);
  }
  if ((events & internal::kWritable) && watch.writer && !watch.writer->cancelled) {
    watch.writer->ref();
    ready_.push_back(watch.writer);
  }
}

}  // namespace aio
