// DatagramSocketTransport: the datagram transport over a UDP or UNIX datagram socket (asyncio's
// _SelectorDatagramTransport): datagram_received per datagram, error_received for OS errors
// (not fatal), a queue with flow control when the kernel's send buffer is full.
#ifndef AIO_NET_DATAGRAM_TRANSPORT_H_
#define AIO_NET_DATAGRAM_TRANSPORT_H_

#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "net/address.h"
#include "net/fd_transport.h"
#include "net/socket.h"
#include "net/transports.h"

namespace aio {

class DatagramSocketTransport final : public DatagramTransport, private internal::FdTransport {
 public:
  // Starts the endpoint: connection_made, then reading, then `waiter`, each via call_soon.
  // `remote` is asyncio's `address`: where sendto() without an address goes, and the only
  // address sendto() accepts. It is the connected peer's address, or remote_addr with
  // allow_broadcast (then the socket is not connected). Whether the socket is connected is the
  // kernel's to say (getpeername), as asyncio's extra info "peername".
  static internal::Ref<DatagramSocketTransport> create(
      EventLoop& loop, Socket socket, std::shared_ptr<BaseProtocol> protocol,
      std::optional<SocketAddress> remote = std::nullopt,
      std::optional<Future<void>> waiter = std::nullopt);

  // BaseTransport
  void close() override;
  bool is_closing() const override { return closing_; }
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override;

  // DatagramTransport
  using DatagramTransport::sendto;
  void sendto(std::span<const std::byte> data, const SocketAddress* address = nullptr) override;
  void abort() override { force_close(nullptr); }
  std::size_t get_write_buffer_size() const override { return buffered_bytes_; }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override {
    return flow_.limits();
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;

  int fileno() const { return socket_.fileno(); }
  // The connected peer (getpeername when created), or nothing.
  std::optional<SocketAddress> peername() const { return peername_; }
  std::optional<SocketAddress> sockname() const { return sockname_; }

 private:
  struct Datagram {
    std::vector<std::byte> data;
    std::optional<SocketAddress> address;
  };

  DatagramSocketTransport(EventLoop& loop, Socket socket, std::optional<SocketAddress> remote);
  ~DatagramSocketTransport() override;

  // FdTransport
  int transport_fd() const noexcept override { return socket_.fileno(); }
  void close_transport_fd() noexcept override { socket_.close(); }
  void start_watching() override;
  void discard_write_buffer() noexcept override;
  void on_released() noexcept override { datagram_protocol_ = nullptr; }

  void on_readable();
  void on_writable();
  // Sends one datagram now (send() when connected, else sendto() to `address`): true if sent,
  // false if the kernel is full (EAGAIN); an OS error goes to error_received and counts as
  // handled (true).
  bool send_now(std::span<const std::byte> data, const std::optional<SocketAddress>& address);
  void report_error_received(std::exception_ptr error);

  Socket socket_;
  DatagramProtocol* datagram_protocol_ = nullptr;
  std::optional<SocketAddress> address_;              // asyncio's _address (see create)
  std::optional<SocketAddress> peername_, sockname_;  // asyncio's extra info
  std::deque<Datagram> buffer_;
  std::size_t buffered_bytes_ = 0;
};

}  // namespace aio

#endif  // AIO_NET_DATAGRAM_TRANSPORT_H_
