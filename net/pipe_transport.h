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
#include "net/closes_with_loop.h"
#include "net/file.h"
#include "net/flow_control.h"
#include "net/transports.h"
#include "net/write_buffer.h"

namespace aio {

namespace internal {
// What both pipe transports share: the fd, the protocol, the loop's reference while open, and
// asyncio's close sequence (connection_lost once, via call_soon, then the fd closes).
class PipeTransportBase : protected FdOwner, protected ClosesWithLoop {
 protected:
  PipeTransportBase(EventLoop& loop, File pipe);
  ~PipeTransportBase();
  void schedule_connection_lost(std::exception_ptr error);
  void call_connection_lost(std::exception_ptr error);
  void release_pipe() noexcept;
  void on_loop_closed() noexcept override;
  virtual void drop_self() noexcept = 0;  // releases the loop's reference (may destroy this)
  virtual std::string describe() const = 0;

  EventLoop* loop_;
  File pipe_;
  std::shared_ptr<BaseProtocol> protocol_;
  bool closing_ = false;
  bool lost_scheduled_ = false;  // connection_lost is on its way (or done): once only
  bool lost_called_ = false;
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
  std::string repr() const override { return describe(); }
  bool is_reading() const override { return !paused_ && !closing_; }
  void pause_reading() override;
  void resume_reading() override;
  int fileno() const { return pipe_.fileno(); }

 private:
  ReadPipeTransport(EventLoop& loop, File pipe) : PipeTransportBase(loop, std::move(pipe)) {}
  void on_readable();
  void fatal_error(std::exception_ptr error, const char* message);
  void drop_self() noexcept override;
  std::string describe() const override;

  Protocol* stream_protocol_ = nullptr;
  internal::Ref<ReadPipeTransport> self_;
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
  std::string repr() const override { return describe(); }

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
  int fileno() const { return pipe_.fileno(); }

 private:
  WritePipeTransport(EventLoop& loop, File pipe) : PipeTransportBase(loop, std::move(pipe)) {}
  void on_reader_gone();
  void on_writable();
  void fatal_error(std::exception_ptr error, const char* message);
  void force_close(std::exception_ptr error);
  void drop_self() noexcept override;
  std::string describe() const override;

  internal::Ref<WritePipeTransport> self_;
  internal::WriteBuffer buffer_;
  internal::WriteFlowControl flow_;
  int conn_lost_ = 0;
  bool watching_reader_ = false;
};

}  // namespace aio

#endif  // AIO_NET_PIPE_TRANSPORT_H_
