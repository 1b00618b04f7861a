// SocketTransport: the stream transport over a connected TCP or UNIX socket (asyncio's
// _SelectorSocketTransport), with asyncio's callback contract, flow control and error rules.
#ifndef AIO_NET_SOCKET_TRANSPORT_H_
#define AIO_NET_SOCKET_TRANSPORT_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "net/fd_transport.h"
#include "net/socket.h"
#include "net/transports.h"
#include "net/write_buffer.h"

namespace aio {

namespace internal {
// A server counting its live connections (Server::wait_closed waits for the last one). As in
// asyncio (_attach/_detach), each connection holds a strong reference to its server from
// attach() to detach(): the server object outlives the user's last reference while any of its
// connections is open.
class ConnectionTracker {
 public:
  virtual void attach() = 0;
  // May destroy the tracker (the connection held the last reference).
  virtual void detach() = 0;

 protected:
  ~ConnectionTracker() = default;
};
}  // namespace internal

class SocketTransport final : public Transport, private internal::FdTransport {
 public:
  // Starts a transport on a connected socket: connection_made(transport) is scheduled, then
  // reading starts, then `waiter` (if any) gets its result, each via call_soon. TCP sockets get
  // TCP_NODELAY. `server` (if any) counts this connection, and is kept alive by it, until
  // connection_lost has run (or the loop closed).
  static internal::Ref<SocketTransport> create(EventLoop& loop, Socket socket,
                                               std::shared_ptr<BaseProtocol> protocol,
                                               std::optional<Future<void>> waiter = std::nullopt,
                                               internal::ConnectionTracker* server = nullptr);

  // BaseTransport
  void close() override;
  bool is_closing() const override { return closing_; }
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
  void abort() override { force_close(nullptr); }
  std::size_t get_write_buffer_size() const override { return buffer_.size(); }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override {
    return flow_.limits();
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;

  // Typed extra info.
  std::optional<SocketAddress> peername() const { return peername_; }
  std::optional<SocketAddress> sockname() const { return sockname_; }
  // A non-owning view of the socket (invalid once the transport is closed).
  Socket socket() const { return socket_.tracking_view(); }
  int fileno() const { return socket_.fileno(); }
  EventLoop* get_loop() const { return loop_; }
  // Whether pause_writing() was called and resume_writing() not yet (flow control).
  bool protocol_writing_paused() const { return flow_.protocol_paused(); }

  // Internal (loop.sendfile): from begin_sendfile() until end_sendfile(), write() is refused
  // ("unable to write; sendfile is in progress"); the future is done once the write buffer is
  // empty (RuntimeError if a sendfile is already running).
  Future<void> begin_sendfile();
  void end_sendfile();
  // Internal (loop.sendfile's read+write fallback): write() is refused the same way from
  // begin_sendfile_fallback() until end_sendfile_fallback(); the fallback writes with
  // sendfile_write().
  void begin_sendfile_fallback() { sendfile_fallback_ = true; }
  void end_sendfile_fallback() { sendfile_fallback_ = false; }
  void sendfile_write(std::span<const std::byte> data);

 private:
  SocketTransport(EventLoop& loop, Socket socket, internal::ConnectionTracker* server);
  ~SocketTransport() override;

  // FdTransport
  int transport_fd() const noexcept override { return socket_.fileno(); }
  void close_transport_fd() noexcept override { socket_.close(); }
  void start_watching() override;
  void discard_write_buffer() noexcept override;
  void before_connection_lost() override;
  void on_released() noexcept override;

  void on_readable();
  // recv() into `buffer`: the bytes received, or 0 when there is nothing to deliver (EAGAIN,
  // or EOF / an error, both already handled).
  std::size_t receive(std::span<std::byte> buffer);
  void read_into_protocol();
  void read_into_buffered_protocol();
  void on_eof();
  void on_writable();

  Socket socket_;
  Protocol* stream_protocol_ = nullptr;  // exactly one of these two is set
  BufferedProtocol* buffered_protocol_ = nullptr;
  internal::ConnectionTracker* server_;
  std::optional<SocketAddress> peername_, sockname_;
  internal::WriteBuffer buffer_;
  bool eof_ = false;                          // write_eof() was called
  bool paused_ = false;                       // pause_reading()
  std::optional<Future<void>> empty_waiter_;  // set while loop.sendfile runs natively
  bool sendfile_fallback_ = false;            // loop.sendfile's fallback is writing
};

}  // namespace aio

#endif  // AIO_NET_SOCKET_TRANSPORT_H_
