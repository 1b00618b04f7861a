// The datagram counterpart of MemoryTransport: two connected in-memory datagram endpoints.
// Each sendto() is one datagram_received() at the peer, in order, through the loop; addresses
// are asyncio's connected-endpoint rules (another address is ValueError); flow control counts
// the bytes of datagrams the peer's protocol has not had yet. A datagram sent to a peer that
// has gone is ConnectionRefusedError in error_received(), as on a connected UDP socket.
//
// Faults: stall(true) (the endpoint stops taking datagrams), drop_next(n) (the next n datagrams
// to this endpoint are lost, as UDP may lose them), set_delay(seconds) (on the loop's clock),
// inject_error(error) (delivered to error_received: not fatal), fail(error) (connection_lost).
#ifndef AIO_TESTING_MEMORY_DATAGRAM_TRANSPORT_H_
#define AIO_TESTING_MEMORY_DATAGRAM_TRANSPORT_H_

#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "loop/event_loop.h"
#include "loop/ref.h"
#include "net/address.h"
#include "net/protocols.h"
#include "net/transports.h"
#include "testing/memory_endpoint.h"

namespace aio::testing {

class MemoryDatagramTransport final : public DatagramTransport,
                                      public MemoryEndpoint<MemoryDatagramTransport> {
 public:
  using Ref = internal::Ref<MemoryDatagramTransport>;

  // Two connected endpoints ("memory:a" and "memory:b", as UNIX addresses); connection_made(a)
  // then connection_made(b) are scheduled.
  static std::pair<Ref, Ref> pair(EventLoop& loop, std::shared_ptr<BaseProtocol> a,
                                  std::shared_ptr<BaseProtocol> b);

  void close() override;
  bool is_closing() const override { return closing_; }
  // "sockname" and "peername": SocketAddress.
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override;

  using DatagramTransport::sendto;
  void sendto(std::span<const std::byte> data, const SocketAddress* address = nullptr) override;
  void abort() override;
  std::size_t get_write_buffer_size() const override;
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override {
    return flow_.limits();
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;

  // Faults (see the header comment); each applies to what this endpoint receives.
  void stall(bool stalled);
  void drop_next(std::size_t datagrams) { drop_ += datagrams; }
  void set_delay(double seconds) { delay_ = seconds; }
  void inject_error(std::exception_ptr error);
  void fail(std::exception_ptr error) { this->lose(std::move(error)); }

  std::size_t datagrams_received() const { return received_; }

 private:
  friend class MemoryEndpoint<MemoryDatagramTransport>;
  MemoryDatagramTransport(EventLoop& loop, std::string name)
      : MemoryEndpoint(loop), name_(name), address_(SocketAddress::unix_path(name)) {}
  ~MemoryDatagramTransport() override = default;

  void schedule_delivery();
  void deliver();
  // MemoryEndpoint's hooks.
  void clear_inbound() noexcept {
    inbound_.clear();
    inbound_bytes_ = 0;
  }
  void clear_protocol_pointers() noexcept { datagram_protocol_ = nullptr; }

  std::string name_;  // "memory:a" or "memory:b"
  SocketAddress address_;
  DatagramProtocol* datagram_protocol_ = nullptr;
  std::deque<std::string> inbound_;  // sent by the peer, not yet received here
  std::size_t inbound_bytes_ = 0;
  std::size_t received_ = 0;
  std::size_t drop_ = 0;
  bool stalled_ = false;
};

}  // namespace aio::testing

#endif  // AIO_TESTING_MEMORY_DATAGRAM_TRANSPORT_H_
