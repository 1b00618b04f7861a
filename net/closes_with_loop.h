// Transports and servers the user never closed must not outlive their loop's close() with an
// open fd: each registers here, and loop.close() closes what is left (with a warning, as
// asyncio's "unclosed transport" ResourceWarning), without calling any protocol.
#ifndef AIO_NET_CLOSES_WITH_LOOP_H_
#define AIO_NET_CLOSES_WITH_LOOP_H_

#include <cstddef>

namespace aio {
class EventLoop;
}

namespace aio::internal {

class LoopClosingRegistry;

class ClosesWithLoop {
 public:
  // The loop is closing: release the fd and every reference to the loop; no callbacks.
  virtual void on_loop_closed() noexcept = 0;

 protected:
  ~ClosesWithLoop() = default;

 private:
  friend void register_with_loop(EventLoop&, ClosesWithLoop*);
  friend void unregister_from_loop(EventLoop&, ClosesWithLoop*);
  friend class LoopClosingRegistry;
  // The registry holding this object, if any: unregistering must work also while the loop's
  // close() is destroying the registry (an object closed there may release another one).
  LoopClosingRegistry* registry_ = nullptr;
  std::size_t registry_index_ = 0;
};

void register_with_loop(EventLoop& loop, ClosesWithLoop* object);
// A no-op once the object's on_loop_closed() was called (or if it was never registered). Safe
// while the loop is closing: objects released by another object's on_loop_closed() leave the
// registry before they are destroyed.
void unregister_from_loop(EventLoop& loop, ClosesWithLoop* object);

}  // namespace aio::internal

#endif  // AIO_NET_CLOSES_WITH_LOOP_H_
