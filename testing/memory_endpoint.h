// What both in-memory transports (MemoryTransport, MemoryDatagramTransport) share, as
// net/fd_transport.h is for the fd kinds: the pairing, the loop's reference until
// connection_lost has run, connection_lost exactly once via call_soon, asyncio's lost-write
// counting, and closing with the loop (a warning, no callbacks). `Derived` supplies
// clear_inbound(), clear_protocol_pointers() and repr().
#ifndef AIO_TESTING_MEMORY_ENDPOINT_H_
#define AIO_TESTING_MEMORY_ENDPOINT_H_

#include <exception>
#include <memory>
#include <utility>

#include "loop/event_loop.h"
#include "loop/logging.h"
#include "loop/ref.h"
#include "net/closes_with_loop.h"
#include "net/flow_control.h"
#include "net/protocols.h"
#include "net/transport_util.h"

namespace aio::testing {

template <class Derived>
class MemoryEndpoint : private internal::ClosesWithLoop {
 protected:
  using Ref = internal::Ref<Derived>;

  explicit MemoryEndpoint(EventLoop& loop) : loop_(&loop) {}
  ~MemoryEndpoint() = default;

  // Connects two new endpoints: protocols set, both closed with the loop, connection_made(a)
  // then connection_made(b) scheduled.
  static std::pair<Ref, Ref> connect(EventLoop& loop, Ref first, Ref second,
                                     std::shared_ptr<BaseProtocol> a,
                                     std::shared_ptr<BaseProtocol> b) {
    first->peer_ = second.get();
    second->peer_ = first.get();
    for (auto [side, protocol] : {std::pair{first, a}, std::pair{second, b}}) {
      side->set_protocol(std::move(protocol));
      side->self_ = side;
      internal::register_with_loop(loop, side.get());
      loop.call_soon([side] {
        if (side->protocol_) side->protocol_->connection_made(*side);
      });
    }
    return {first, second};
  }

  // connection_lost(error) on the next iteration, once.
  void lose(std::exception_ptr error) {
    if (lost_ || loop_ == nullptr) return;
    lost_ = true;
    closing_ = true;
    lost_writes_ = 1;  // as asyncio's _force_close: the loss counts as the first lost write
    loop_->call_soon([ref = self_, error] { ref->call_connection_lost(error); });
  }

  // Runs Derived::deliver() on the next iteration, or `delay_` later on the loop's clock.
  void post_delivery() {
    delivery_scheduled_ = true;
    Ref ref = Ref::share(&self());
    if (delay_ > 0) {
      loop_->call_later(delay_, [ref] { ref->deliver(); });
    } else {
      loop_->call_soon([ref] { ref->deliver(); });
    }
  }

  // Flow control on what the peer has not received yet: pause_writing above the high mark.
  void maybe_pause_writer() {
    if (protocol_ && !lost_) {
      flow_.maybe_pause(self().get_write_buffer_size(), *loop_, protocol_, self());
    }
  }

  // The peer's protocol has taken some of what this side wrote: resume_writing at the low mark,
  // and a close() that waited for the buffer to drain completes.
  void after_drain() {
    if (lost_) return;
    if (protocol_) flow_.maybe_resume(self().get_write_buffer_size(), *loop_, protocol_, self());
    if (closing_ && self().get_write_buffer_size() == 0) lose(nullptr);
  }

  // A write after the loss: dropped and counted; from the fifth on a warning, as a socket's.
  void drop_lost_write() {
    if (lost_writes_ >= internal::kWarnAfterLostWrites) {
      log(LogLevel::kWarning, "socket.send() raised exception.");
    }
    ++lost_writes_;
  }

  EventLoop* loop_;          // null once the loop has closed
  Derived* peer_ = nullptr;  // null once the peer's connection is lost
  std::shared_ptr<BaseProtocol> protocol_;
  internal::WriteFlowControl flow_;
  int lost_writes_ = 0;
  double delay_ = 0;  // of every delivery to this side (set_delay)
  bool delivery_scheduled_ = false;
  bool closing_ = false;
  bool lost_ = false;  // connection_lost scheduled or done
  bool protocol_connected_ = false;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }

  void call_connection_lost(std::exception_ptr error) {
    struct Finally {
      MemoryEndpoint* endpoint;
      ~Finally() {
        if (endpoint->loop_ != nullptr) internal::unregister_from_loop(*endpoint->loop_, endpoint);
        endpoint->unlink();  // may destroy the endpoint: last
      }
    } finally{this};
    if (protocol_connected_ && protocol_) {
      protocol_connected_ = false;
      protocol_->connection_lost(error);
    }
  }

  // Lets go of the peer, what is queued, the protocol and the loop's reference.
  void unlink() noexcept {
    if (peer_ != nullptr) peer_->peer_ = nullptr;
    peer_ = nullptr;
    self().clear_inbound();
    protocol_.reset();
    self().clear_protocol_pointers();
    Ref self_ref = std::move(self_);  // may destroy this: last
  }

  void on_loop_closed() noexcept override {
    if (!closing_) {
      log(LogLevel::kWarning, "unclosed transport " + self().repr() + " closed with its loop");
    }
    loop_ = nullptr;
    closing_ = true;
    lost_ = true;
    unlink();
  }

  Ref self_;  // the loop's reference until connection_lost has run
};

}  // namespace aio::testing

#endif  // AIO_TESTING_MEMORY_ENDPOINT_H_
