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
  std::size_t registry_index_ = 0;
};

void register_with_loop(EventLoop& loop, ClosesWithLoop* object);
// A no-op once the loop is closed.
void unregister_from_loop(EventLoop& loop, ClosesWithLoop* object);

}  // namespace aio::internal

#endif  // AIO_NET_CLOSES_WITH_LOOP_H_
