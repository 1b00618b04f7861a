#include "net/pipe_transport.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "loop/errors.h"
#include "loop/logging.h"
#include "net/transport_util.h"

namespace aio {

using internal::current_error_unless_interrupt;
using internal::os_error;
using internal::would_block;

namespace internal {

PipeTransportBase::PipeTransportBase(EventLoop& loop, File pipe)
    : loop_(&loop), pipe_(std::move(pipe)) {}

PipeTransportBase::~PipeTransportBase() { release_pipe(); }

void PipeTransportBase::schedule_connection_lost(std::exception_ptr error) {
  if (lost_scheduled_ || loop_ == nullptr) return;
  lost_scheduled_ = true;
  // `this` stays alive: the loop's reference is dropped only by call_connection_lost.
  loop_->call_soon([this, error] { call_connection_lost(error); });
}

void PipeTransportBase::call_connection_lost(std::exception_ptr error) {
  lost_scheduled_ = true;
  struct Finally {
    PipeTransportBase* transport;
    ~Finally() {
      transport->release_pipe();
      transport->protocol_.reset();
      transport->drop_self();  // may destroy the transport: last
    }
  } finally{this};
  if (!lost_called_ && protocol_) {
    lost_called_ = true;
    protocol_->connection_lost(error);
  }
}

void PipeTransportBase::release_pipe() noexcept {
  if (!pipe_.is_open()) return;
  release_transport_fd(loop_, pipe_.fileno(), this);
  pipe_.close();
}

void PipeTransportBase::on_loop_closed() noexcept {
  if (!closing_)
    log(LogLevel::kWarning, "unclosed transport " + describe() + " closed with its loop");
  loop_ = nullptr;
  pipe_.close();
  protocol_.reset();
  closing_ = true;
  drop_self();
}

}  // namespace internal

// --- Read end ------------------------------------------------------------------------------------

internal::Ref<ReadPipeTransport> ReadPipeTransport::create(EventLoop& loop, File& pipe,
                                                           std::shared_ptr<BaseProtocol> protocol,
                                                           std::optional<Future<void>> waiter) {
  unsigned mode = pipe.mode();
  if (!(S_ISFIFO(mode) || S_ISSOCK(mode) || S_ISCHR(mode))) {
    throw ValueError("Pipe transport is for pipes/sockets only.");
  }
  pipe.set_blocking(false);
  auto transport =
      internal::Ref<ReadPipeTransport>::share(new ReadPipeTransport(loop, std::move(pipe)));
  transport->set_protocol(std::move(protocol));
  transport->self_ = transport;
  loop.set_fd_owner(transport->pipe_.fileno(), transport.get());
  internal::register_with_loop(loop, transport.get());
  internal::Ref<ReadPipeTransport> ref = transport;
  loop.call_soon([ref] {
    if (ref->protocol_) ref->protocol_->connection_made(*ref);
  });
  loop.call_soon([ref] {
    // Reading starts only after connection_made, and not if it paused or closed meanwhile.
    if (ref->is_reading() && ref->loop_ != nullptr) {
      ref->loop_->watch_reader(ref->pipe_.fileno(), [t = ref.get()] { t->on_readable(); });
    }
  });
  if (waiter) {
    loop.call_soon([waiter = std::move(*waiter)]() mutable {
      if (!waiter.done()) waiter.set_result();
    });
  }
  return transport;
}

void ReadPipeTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto* stream = dynamic_cast<Protocol*>(protocol.get());
  if (stream == nullptr) throw TypeError("a read pipe transport needs a Protocol");
  protocol_ = std::move(protocol);
  stream_protocol_ = stream;
}

std::string ReadPipeTransport::describe() const {
  std::string text = "<ReadPipeTransport";
  if (!pipe_.is_open()) return text + " closed>";
  text += " fd=" + std::to_string(pipe_.fileno());
  if (closing_) text += " closing";
  return text + (is_reading() ? " polling>" : " idle>");
}

std::any ReadPipeTransport::get_extra_info(std::string_view name, std::any default_value) const {
  if (name == "pipe" && pipe_.is_open()) return pipe_.fileno();
  return default_value;
}

void ReadPipeTransport::pause_reading() {
  if (closing_ || paused_) return;
  paused_ = true;
  if (loop_ != nullptr) loop_->unwatch_reader(pipe_.fileno());
}

void ReadPipeTransport::resume_reading() {
  if (closing_ || !paused_) return;
  paused_ = false;
  if (loop_ != nullptr) loop_->watch_reader(pipe_.fileno(), [this] { on_readable(); });
}

void ReadPipeTransport::on_readable() {
  std::byte* buffer = internal::receive_buffer();
  ssize_t n = ::read(pipe_.fileno(), buffer, internal::kMaxRead);
  // A PTY master reads EIO once its slave side is closed: that is the end of the data, as EOF.
  bool eof = n == 0 || (n < 0 && errno == EIO);
  if (n < 0 && !eof) {
    if (!would_block(errno)) fatal_error(os_error(errno), "Fatal read error on pipe transport");
    return;
  }
  if (!eof) {
    // As asyncio, an exception from data_received is the loop's to report: it propagates.
    stream_protocol_->data_received(std::span<const std::byte>(buffer, static_cast<size_t>(n)));
    return;
  }
  if (loop_->get_debug()) log(LogLevel::kInfo, describe() + " was closed by peer");
  closing_ = true;
  loop_->unwatch_reader(pipe_.fileno());
  internal::Ref<ReadPipeTransport> ref = self_;
  loop_->call_soon([ref] {
    if (ref->stream_protocol_ != nullptr) ref->stream_protocol_->eof_received();
  });
  schedule_connection_lost(nullptr);
}

void ReadPipeTransport::close() {
  if (closing_ || loop_ == nullptr) return;
  closing_ = true;
  loop_->unwatch_reader(pipe_.fileno());
  schedule_connection_lost(nullptr);
}

void ReadPipeTransport::fatal_error(std::exception_ptr error, const char* message) {
  internal::report_fatal_error(*loop_, error, message, *this, protocol_);
  closing_ = true;
  loop_->unwatch_reader(pipe_.fileno());
  schedule_connection_lost(error);
}

void ReadPipeTransport::drop_self() noexcept {
  stream_protocol_ = nullptr;
  internal::Ref<ReadPipeTransport> self = std::move(self_);
}

// --- Write end -----------------------------------------------------------------------------------

internal::Ref<WritePipeTransport> WritePipeTransport::create(EventLoop& loop, File& pipe,
                                                             std::shared_ptr<BaseProtocol> protocol,
                                                             std::optional<Future<void>> waiter) {
  unsigned mode = pipe.mode();
  bool is_socket = S_ISSOCK(mode), is_fifo = S_ISFIFO(mode);
  if (!(S_ISCHR(mode) || is_fifo || is_socket)) {
    throw ValueError("Pipe transport is only for pipes, sockets and character devices");
  }
  pipe.set_blocking(false);
  internal::ignore_sigpipe_once();
  auto transport =
      internal::Ref<WritePipeTransport>::share(new WritePipeTransport(loop, std::move(pipe)));
  transport->set_protocol(std::move(protocol));
  transport->self_ = transport;
  loop.set_fd_owner(transport->pipe_.fileno(), transport.get());
  internal::register_with_loop(loop, transport.get());
  internal::Ref<WritePipeTransport> ref = transport;
  loop.call_soon([ref] {
    if (ref->protocol_) ref->protocol_->connection_made(*ref);
  });
  if (is_socket || is_fifo) {
    // The reader trick: the write end of a pipe or socket turns "readable" (EPOLLERR/HUP) when
    // the reading side goes away, so a closed reader is noticed even with nothing to write.
    loop.call_soon([ref] {
      if (ref->closing_ || ref->loop_ == nullptr) return;
      ref->watching_reader_ = true;
      ref->loop_->watch_reader(ref->pipe_.fileno(), [t = ref.get()] { t->on_reader_gone(); });
    });
  }
  if (waiter) {
    loop.call_soon([waiter = std::move(*waiter)]() mutable {
      if (!waiter.done()) waiter.set_result();
    });
  }
  return transport;
}

void WritePipeTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  protocol_ = std::move(protocol);
}

std::string WritePipeTransport::describe() const {
  std::string text = "<WritePipeTransport";
  if (!pipe_.is_open()) return text + " closed>";
  text += " fd=" + std::to_string(pipe_.fileno());
  if (closing_) text += " closing";
  return text + " bufsize=" + std::to_string(buffer_.size()) + ">";
}

std::any WritePipeTransport::get_extra_info(std::string_view name, std::any default_value) const {
  if (name == "pipe" && pipe_.is_open()) return pipe_.fileno();
  return default_value;
}

void WritePipeTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                                 std::optional<std::size_t> low) {
  flow_.set_limits(high, low);
  if (protocol_ && loop_ != nullptr) flow_.maybe_pause(buffer_.size(), *loop_, protocol_, *this);
}

void WritePipeTransport::on_reader_gone() {
  if (loop_->get_debug()) log(LogLevel::kInfo, describe() + " was closed by peer");
  if (!buffer_.empty()) {
    force_close(os_error(EPIPE));
  } else {
    force_close(nullptr);
  }
}

void WritePipeTransport::write(std::span<const std::byte> data) {
  if (data.empty()) return;
  if (conn_lost_ > 0 || closing_) {
    if (conn_lost_ >= internal::kWarnAfterLostWrites) {
      log(LogLevel::kWarning, "pipe closed by peer or os.write(pipe, data) raised exception.");
    }
    ++conn_lost_;
    return;
  }
  if (buffer_.empty()) {
    ssize_t n = ::write(pipe_.fileno(), data.data(), data.size());
    if (n < 0) {
      if (!would_block(errno)) {
        ++conn_lost_;
        fatal_error(os_error(errno), "Fatal write error on pipe transport");
        return;
      }
      n = 0;
    }
    data = data.subspan(static_cast<std::size_t>(n));
    if (data.empty()) return;
    loop_->watch_writer(pipe_.fileno(), [this] { on_writable(); });
  }
  buffer_.append(data);
  if (protocol_) flow_.maybe_pause(buffer_.size(), *loop_, protocol_, *this);
}

void WritePipeTransport::on_writable() {
  iovec pieces[64];
  int count = buffer_.fill(pieces, 64);
  ssize_t n = ::writev(pipe_.fileno(), pieces, count);
  if (n < 0) {
    if (would_block(errno)) return;
    int err = errno;
    buffer_.clear();
    ++conn_lost_;
    loop_->unwatch_writer(pipe_.fileno());
    fatal_error(os_error(err), "Fatal write error on pipe transport");
    return;
  }
  buffer_.consume(static_cast<std::size_t>(n));
  if (!buffer_.empty()) return;
  loop_->unwatch_writer(pipe_.fileno());
  if (protocol_) flow_.maybe_resume(buffer_.size(), *loop_, protocol_, *this);  // may write
  if (closing_ && buffer_.empty()) {
    loop_->unwatch_reader(pipe_.fileno());
    call_connection_lost(nullptr);
  }
}

void WritePipeTransport::write_eof() {
  if (closing_ || loop_ == nullptr) return;
  closing_ = true;
  if (buffer_.empty()) {
    loop_->unwatch_reader(pipe_.fileno());
    schedule_connection_lost(nullptr);
  }
}

// For a pipe, closing the write end is all write_eof() can do: close() is write_eof().
void WritePipeTransport::close() { write_eof(); }

void WritePipeTransport::fatal_error(std::exception_ptr error, const char* message) {
  internal::report_fatal_error(*loop_, error, message, *this, protocol_);
  force_close(error);
}

void WritePipeTransport::force_close(std::exception_ptr error) {
  if (loop_ == nullptr || lost_scheduled_) return;
  closing_ = true;
  if (!buffer_.empty()) loop_->unwatch_writer(pipe_.fileno());
  buffer_.clear();
  loop_->unwatch_reader(pipe_.fileno());
  schedule_connection_lost(error);
}

void WritePipeTransport::drop_self() noexcept {
  internal::Ref<WritePipeTransport> self = std::move(self_);
}

}  // namespace aio
