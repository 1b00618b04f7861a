// asyncio's transport classes: the interfaces protocols and users see. Transports count their
// references (TransportRef); the loop keeps a transport alive while its connection is open.
#ifndef AIO_NET_TRANSPORTS_H_
#define AIO_NET_TRANSPORTS_H_

#include <any>
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loop/ref.h"
#include "net/protocols.h"

namespace aio {

class BaseTransport {
 public:
  BaseTransport() = default;
  BaseTransport(const BaseTransport&) = delete;
  BaseTransport& operator=(const BaseTransport&) = delete;

  // Flushes what is buffered, then closes; connection_lost(nullptr) follows (not synchronously).
  virtual void close() = 0;
  virtual bool is_closing() const = 0;
  // "peername", "sockname" (SocketAddress), "socket" (std::shared_ptr<Socket>, a non-owning
  // view), ...; an unknown key or an unavailable value gives `default_value`.
  virtual std::any get_extra_info(std::string_view name, std::any default_value = {}) const = 0;
  virtual void set_protocol(std::shared_ptr<BaseProtocol> protocol) = 0;
  virtual std::shared_ptr<BaseProtocol> get_protocol() const = 0;
  virtual std::string repr() const = 0;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void drop_ref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 protected:
  virtual ~BaseTransport() = default;

 private:
  std::atomic<int> refs_{0};
};

class ReadTransport : public virtual BaseTransport {
 public:
  virtual bool is_reading() const = 0;
  // Both idempotent, and no-ops on a closing transport.
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;
};

class WriteTransport : public virtual BaseTransport {
 public:
  // Never blocks: what the kernel does not take now is buffered (get_write_buffer_size()).
  virtual void write(std::span<const std::byte> data) = 0;
  void write(std::string_view data) {
    write(std::as_bytes(std::span<const char>(data.data(), data.size())));
  }
  virtual void writelines(const std::vector<std::span<const std::byte>>& pieces) {
    for (std::span<const std::byte> piece : pieces) write(piece);
  }
  // Closes the write end once the buffer is flushed; idempotent.
  virtual void write_eof() = 0;
  virtual bool can_write_eof() const = 0;
  // Closes at once, discarding the buffer; connection_lost(nullptr) follows.
  virtual void abort() = 0;
  virtual std::size_t get_write_buffer_size() const = 0;
  // (low, high), as asyncio returns them.
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const = 0;
  // asyncio's defaults: high 64 KiB; low = high / 4; only low given: high = 4 * low.
  // ValueError("high (1) must be >= low (2) must be >= 0") when high < low.
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
};

// A bidirectional stream (TCP, UNIX stream sockets).
class Transport : public ReadTransport, public WriteTransport {};

using TransportRef = internal::Ref<Transport>;

class SocketAddress;

// A datagram endpoint (UDP, UNIX datagram sockets).
class DatagramTransport : public virtual BaseTransport {
 public:
  // Sends one datagram to `address`, or to the connected peer when it is null. ValueError for
  // another address on a connected endpoint. Never blocks: queued when the kernel is full.
  virtual void sendto(std::span<const std::byte> data, const SocketAddress* address = nullptr) = 0;
  void sendto(std::string_view data, const SocketAddress* address = nullptr) {
    sendto(std::as_bytes(std::span<const char>(data.data(), data.size())), address);
  }
  // Closes at once, dropping queued datagrams; connection_lost(nullptr) follows.
  virtual void abort() = 0;
  virtual std::size_t get_write_buffer_size() const = 0;
  // Flow control, as WriteTransport's.
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const = 0;
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
};

using DatagramTransportRef = internal::Ref<DatagramTransport>;

}  // namespace aio

#endif  // AIO_NET_TRANSPORTS_H_
