// Pipe transports (asyncio's _UnixReadPipeTransport and _UnixWritePipeTransport): the read or
// write end of a pipe, FIFO, socket, character device or PTY as a transport. Regular files are
// refused: they are always "ready", so there is nothing to wait for.
#ifndef AIO_NET_PIPE_TRANSPORT_H_
#define AIO_NET_PIPE_TRANSPORT_H_

#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "net/fd_transport.h"
#include "net/file.h"
#include "net/transports.h"
#include "net/write_buffer.h"

namespace aio {

namespace internal {
// What both pipe transports add to the fd-transport core: the pipe as an aio::File.
class PipeTransportBase : protected FdTransport {
 protected:
  PipeTransportBase(EventLoop& loop, BaseTransport& transport, File pipe)
      : FdTransport(loop, transport), pipe_(std::move(pipe)) {}
  ~PipeTransportBase() { release_fd(); }
  int transport_fd() const noexcept override { return pipe_.fileno(); }
  void close_transport_fd() noexcept override { pipe_.close(); }

  File pipe_;
};
}  // namespace internal

class ReadPipeTransport final : public ReadTransport, private internal::PipeTransportBase {
 public:
  // ValueError "Pipe transport is for pipes/sockets only." for anything but a pipe, FIFO,
  // socket or character device, leaving `pipe` untouched; else moves from it and makes the fd
  // non-blocking.
  static internal::Ref<ReadPipeTransport> create(EventLoop& loop, File& pipe,
                                                 std::shared_ptr<BaseProtocol> protocol,
                                                 std::optional<Future<void>> waiter = std::nullopt);

  void close() override;
  bool is_closing() const override { return closing_; }
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override;
  bool is_reading() const override { return !paused_ && !closing_; }
  void pause_reading() override;
  void resume_reading() override;
  int fileno() const { return pipe_.fileno(); }

 private:
  ReadPipeTransport(EventLoop& loop, File pipe) : PipeTransportBase(loop, *this, std::move(pipe)) {}
  void start_watching() override;
  void on_released() noexcept override { stream_protocol_ = nullptr; }
  void on_readable();

  Protocol* stream_protocol_ = nullptr;
  bool paused_ = false;
};

class WritePipeTransport final : public WriteTransport, private internal::PipeTransportBase {
 public:
  // ValueError "Pipe transport is only for pipes, sockets and character devices" otherwise
  // (`pipe` untouched).
  static internal::Ref<WritePipeTransport> create(
      EventLoop& loop, File& pipe, std::shared_ptr<BaseProtocol> protocol,
      std::optional<Future<void>> waiter = std::nullopt);

  void close() override;
  bool is_closing() const override { return closing_; }
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override;

  using WriteTransport::write;
  void write(std::span<const std::byte> data) override;
  void write_eof() override;
  bool can_write_eof() const override { return true; }
  // asyncio's pipe abort() is _close(None): connection_lost(nullptr), no lost write counted.
  void abort() override { close_now(nullptr); }
  std::size_t get_write_buffer_size() const override { return buffer_.size(); }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override {
    return flow_.limits();
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;
  int fileno() const { return pipe_.fileno(); }

 private:
  WritePipeTransport(EventLoop& loop, File pipe, bool watch_peer)
      : PipeTransportBase(loop, *this, std::move(pipe)), watch_peer_(watch_peer) {}
  void start_watching() override;
  void discard_write_buffer() noexcept override;
  void on_reader_gone();
  void on_writable();

  internal::WriteBuffer buffer_;
  bool watch_peer_;  // a pipe or socket: its reader going away is seen as "readable"
};

}  // namespace aio

#endif  // AIO_NET_PIPE_TRANSPORT_H_
