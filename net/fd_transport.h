// FdTransport: the core every fd-based transport is built on (SocketTransport,
// DatagramSocketTransport, the pipe transports; TLS and subprocess pipes ride on these). It owns
// what asyncio's _SelectorTransport and the Unix pipe transports share, so that each rule lives
// in one place:
//
//   - the life-cycle state: closing, connection_lost scheduled (once), protocol connected, and
//     asyncio's _conn_lost write counter;
//   - the fd's registration with the loop (owned by this transport for add_reader() & co,
//     closed with the loop) and its release before it is closed;
//   - asyncio's start sequence (connection_made, then watching, then the waiter: each call_soon);
//   - connection_lost: scheduled with call_soon, called exactly once, then the fd closes and the
//     loop's reference goes, whatever the protocol did;
//   - force-close, fatal-error reporting with asyncio's contexts, loop-closed handling;
//   - write flow control (high/low water marks, pause/resume_writing exactly once each way).
//
// A concrete transport keeps only what differs: how it reads and writes (streams, datagrams,
// pipe EOF rules), its write buffer's shape and its extra info.
#ifndef AIO_NET_FD_TRANSPORT_H_
#define AIO_NET_FD_TRANSPORT_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "loop/ref.h"
#include "net/closes_with_loop.h"
#include "net/flow_control.h"
#include "net/protocols.h"
#include "net/transports.h"

namespace aio::internal {

class FdTransport : protected FdOwner, protected ClosesWithLoop {
 protected:
  // `transport` is the object this core is a base of: it is named in error reports and is what
  // the loop keeps alive while the connection is open.
  FdTransport(EventLoop& loop, BaseTransport& transport) : loop_(&loop), transport_(&transport) {}
  ~FdTransport() = default;

  // The fd, -1 once closed; closing it (the concrete transport owns the Socket or File).
  virtual int transport_fd() const noexcept = 0;
  virtual void close_transport_fd() noexcept = 0;
  // Called once connection_made has run, unless the transport closed meanwhile: start watching
  // the fd (reading, or the pipe writer's peer-gone trick).
  virtual void start_watching() = 0;
  // Drops everything queued for writing and stops waiting for writability (force-close).
  virtual void discard_write_buffer() noexcept {}
  // The transport has let go of its protocol and fd (connection_lost done or loop closed): drop
  // what refers to them (typed protocol pointers, the server's count).
  virtual void on_released() noexcept {}
  // Just before connection_lost is called (e.g. failing a pending sendfile's wait).
  virtual void before_connection_lost() {}

  // Registers the fd with the loop: owned by this transport, closed with the loop.
  void adopt_fd(int fd);

  // asyncio's start: connection_made(transport), then start_watching() unless closing, then the
  // waiter's result (if it is still pending), each via call_soon. The loop holds a reference to
  // `transport` from now until connection_lost has run.
  template <class T>
  void start(T& transport, std::optional<Future<void>> waiter) {
    self_ = Ref<BaseTransport>::share(&transport);
    Ref<T> ref = Ref<T>::share(&transport);
    loop_->call_soon([this, ref] {
      if (protocol_) protocol_->connection_made(*ref);
    });
    loop_->call_soon([this, ref] {
      if (!closing_ && loop_ != nullptr) start_watching();
    });
    if (waiter) {
      loop_->call_soon([waiter = std::move(*waiter)]() mutable {
        if (!waiter.done()) waiter.set_result();
      });
    }
  }

  // Sets the protocol (the concrete transport checks its kind first).
  void attach_protocol(std::shared_ptr<BaseProtocol> protocol) {
    protocol_ = std::move(protocol);
    protocol_connected_ = true;
  }

  // asyncio's close(): reading stops; if nothing is left to write (`flushed`), connection_lost
  // is scheduled, else the writer calls finish_close() once the buffer has drained.
  void close_when_flushed(bool flushed);
  // The write buffer drained after close(): connection_lost now.
  void finish_close() {
    ++conn_lost_;
    call_connection_lost(nullptr);
  }
  // connection_lost(error) on the next loop iteration; a no-op once scheduled or called.
  void schedule_connection_lost(std::exception_ptr error);
  // connection_lost(error) now (once, if the protocol is connected); then the fd closes, the
  // protocol is dropped and the loop lets go of the transport (which may destroy it).
  void call_connection_lost(std::exception_ptr error);
  // asyncio's _force_close: the write buffer dropped, reading stopped, connection_lost(error)
  // scheduled, _conn_lost counted. A no-op once connection_lost is on its way.
  void force_close(std::exception_ptr error);
  // The pipes' _close: force_close without counting a lost write (asyncio's pipe transports
  // count only the writes that failed).
  void close_now(std::exception_ptr error);
  // asyncio's _fatal_error: an OSError is only logged in debug mode; anything else also goes to
  // the exception handler with `message`, the transport and the protocol. Then force_close().
  void fatal_error(std::exception_ptr error, const char* message);
  // fatal_error for an errno: an OSError, so only the debug log, and the exception is made
  // without a throw (a reset or a broken pipe is an ordinary end of a connection).
  void fatal_os_error(int err, const char* message);
  // A write while the connection is lost: dropped and counted; from the fifth on, `warning` is
  // logged (asyncio's LOG_THRESHOLD_FOR_CONNLOST_WRITES).
  void drop_lost_write(const char* warning);
  // Removes the fd's watchers and the fd's registration, then closes it (idempotent).
  void release_fd() noexcept;

  // Flow control on `buffered` bytes (no-op without a protocol or once the loop closed).
  void maybe_pause_protocol(std::size_t buffered);
  void maybe_resume_protocol(std::size_t buffered);

  // ClosesWithLoop: the loop closes under an open transport: a warning, the fd closed, no
  // protocol callback, the loop's reference dropped (may destroy the transport).
  void on_loop_closed() noexcept override;

  EventLoop* loop_;  // null once the loop has closed: nothing of it may be touched then
  std::shared_ptr<BaseProtocol> protocol_;
  WriteFlowControl flow_;
  int conn_lost_ = 0;            // asyncio's _conn_lost: writes dropped after the loss, counted
  bool closing_ = false;         // close(), write_eof() on a pipe, EOF, an error or the loop closed
  bool lost_scheduled_ = false;  // connection_lost is on its way (or done): once only
  bool protocol_connected_ = false;

 private:
  BaseTransport* transport_;
  Ref<BaseTransport> self_;  // the loop's reference while the connection is open
};

}  // namespace aio::internal

#endif  // AIO_NET_FD_TRANSPORT_H_
