// An in-memory stream transport pair for testing protocols without sockets: what one side
// writes the other side's protocol receives, through the loop's callbacks, with the contract a
// socket transport keeps (connection_made deferred; data in order; write_eof and close arrive
// as the peer's eof_received; connection_lost once and last; real high/low water marks: bytes
// count against the writer until the reader's protocol has them, so a reader that pauses
// reading, or stalls, makes the writer pause_writing).
//
// Faults a test can inject, per direction or side:
//   - stall(true): the side stops taking data (invisible to its protocol), the writer backs up;
//   - set_max_chunk(n): deliveries of at most n bytes (short reads/writes);
//   - set_delay(seconds): each delivery waits on the loop's clock (virtual time makes it free);
//   - reset_after(n): after n more bytes reach this side, both sides lose the connection with
//     ConnectionResetError;
//   - fail(error): this side's protocol gets connection_lost(error), the peer sees EOF.
//
//   auto [client, server] = aio::testing::MemoryTransport::pair(loop, client_proto, server_proto);
#ifndef AIO_TESTING_MEMORY_TRANSPORT_H_
#define AIO_TESTING_MEMORY_TRANSPORT_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "loop/event_loop.h"
#include "loop/ref.h"
#include "net/protocols.h"
#include "net/transports.h"
#include "testing/memory_endpoint.h"

namespace aio::testing {

class MemoryTransport final : public Transport, public MemoryEndpoint<MemoryTransport> {
 public:
  using Ref = internal::Ref<MemoryTransport>;

  // Two connected transports; connection_made(a) then connection_made(b) are scheduled.
  static std::pair<Ref, Ref> pair(EventLoop& loop, std::shared_ptr<BaseProtocol> a,
                                  std::shared_ptr<BaseProtocol> b);

  // BaseTransport
  void close() override;
  bool is_closing() const override { return closing_; }
  // "peername" / "sockname": the strings "memory:<peer's name>" / "memory:<name>".
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override;

  // ReadTransport
  bool is_reading() const override { return !paused_ && !closing_; }
  void pause_reading() override;
  void resume_reading() override;

  // WriteTransport
  using WriteTransport::write;
  void write(std::span<const std::byte> data) override;
  void write_eof() override;
  bool can_write_eof() const override { return true; }
  void abort() override;
  // Bytes written and not yet received by the peer's protocol.
  std::size_t get_write_buffer_size() const override;
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override {
    return flow_.limits();
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;

  // Faults (see the header comment); each applies to what this side receives.
  void stall(bool stalled);
  void set_max_chunk(std::size_t bytes) { max_chunk_ = bytes == 0 ? 1 : bytes; }
  void set_delay(double seconds) { delay_ = seconds; }
  void reset_after(std::size_t bytes) { reset_after_ = received_ + bytes; }
  void fail(std::exception_ptr error);

  // Bytes this side's protocol has received so far.
  std::size_t bytes_received() const { return received_; }

 private:
  friend class MemoryEndpoint<MemoryTransport>;
  MemoryTransport(EventLoop& loop, std::string name)
      : MemoryEndpoint(loop), name_(std::move(name)) {}
  ~MemoryTransport() override = default;

  bool can_take() const { return !paused_ && !stalled_ && !lost_; }
  // Schedules one delivery to this side if there is something for it and none is on its way.
  void schedule_delivery();
  void deliver();
  void deliver_eof();
  // The peer's writer side after bytes left its buffer (flow control, close once flushed).
  // MemoryEndpoint's hooks.
  void clear_inbound() noexcept { inbound_.clear(); }
  void clear_protocol_pointers() noexcept {
    stream_protocol_ = nullptr;
    buffered_protocol_ = nullptr;
  }

  std::string name_;
  Protocol* stream_protocol_ = nullptr;  // exactly one of these two is set
  BufferedProtocol* buffered_protocol_ = nullptr;
  std::string inbound_;  // written by the peer, not yet received here
  bool eof_pending_ = false;
  std::size_t received_ = 0;
  std::optional<std::size_t> reset_after_;
  std::size_t max_chunk_ = 256 * 1024;
  bool eof_written_ = false;
  bool paused_ = false;
  bool stalled_ = false;
};

}  // namespace aio::testing

#endif  // AIO_TESTING_MEMORY_TRANSPORT_H_
