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
  transport->adopt_fd(transport->pipe_.fileno());
  transport->start(*transport, std::move(waiter));
  return transport;
}

void ReadPipeTransport::start_watching() {
  // Reading starts only after connection_made, and not if it paused reading.
  if (!paused_) loop_->watch_reader(pipe_.fileno(), [this] { on_readable(); });
}

void ReadPipeTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto* stream = dynamic_cast<Protocol*>(protocol.get());
  if (stream == nullptr) throw TypeError("a read pipe transport needs a Protocol");
  attach_protocol(std::move(protocol));
  stream_protocol_ = stream;
}

std::string ReadPipeTransport::repr() const {
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
    if (!would_block(errno)) fatal_os_error(errno, "Fatal read error on pipe transport");
    return;
  }
  if (!eof) {
    // As asyncio, an exception from data_received is the loop's to report: it propagates.
    stream_protocol_->data_received(std::span<const std::byte>(buffer, static_cast<size_t>(n)));
    return;
  }
  if (loop_->get_debug()) log(LogLevel::kInfo, repr() + " was closed by peer");
  closing_ = true;
  loop_->unwatch_reader(pipe_.fileno());
  internal::Ref<ReadPipeTransport> ref = internal::Ref<ReadPipeTransport>::share(this);
  loop_->call_soon([ref] {
    if (ref->stream_protocol_ != nullptr) ref->stream_protocol_->eof_received();
  });
  schedule_connection_lost(nullptr);
}

void ReadPipeTransport::close() { close_when_flushed(true); }

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
  auto transport = internal::Ref<WritePipeTransport>::share(
      new WritePipeTransport(loop, std::move(pipe), is_socket || is_fifo));
  transport->set_protocol(std::move(protocol));
  transport->adopt_fd(transport->pipe_.fileno());
  transport->start(*transport, std::move(waiter));
  return transport;
}

void WritePipeTransport::start_watching() {
  // The reader trick: the write end of a pipe or socket turns "readable" (EPOLLERR/HUP) when
  // the reading side goes away, so a closed reader is noticed even with nothing to write.
  if (watch_peer_) loop_->watch_reader(pipe_.fileno(), [this] { on_reader_gone(); });
}

void WritePipeTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  attach_protocol(std::move(protocol));
}

std::string WritePipeTransport::repr() const {
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
  maybe_pause_protocol(buffer_.size());
}

void WritePipeTransport::on_reader_gone() {
  if (loop_->get_debug()) log(LogLevel::kInfo, repr() + " was closed by peer");
  close_now(buffer_.empty() ? nullptr : os_error(EPIPE));
}

void WritePipeTransport::write(std::span<const std::byte> data) {
  if (data.empty()) return;
  if (conn_lost_ > 0 || closing_) {
    drop_lost_write("pipe closed by peer or os.write(pipe, data) raised exception.");
    return;
  }
  if (buffer_.empty()) {
    ssize_t n = ::write(pipe_.fileno(), data.data(), data.size());
    if (n < 0) {
      if (!would_block(errno)) {
        fatal_os_error(errno, "Fatal write error on pipe transport");
        return;
      }
      n = 0;
    }
    data = data.subspan(static_cast<std::size_t>(n));
    if (data.empty()) return;
    loop_->watch_writer(pipe_.fileno(), [this] { on_writable(); });
  }
  buffer_.append(data);
  maybe_pause_protocol(buffer_.size());
}

void WritePipeTransport::on_writable() {
  iovec pieces[64];
  int count = buffer_.fill(pieces, 64);
  ssize_t n = ::writev(pipe_.fileno(), pieces, count);
  if (n < 0) {
    if (would_block(errno)) return;
    fatal_os_error(errno, "Fatal write error on pipe transport");
    return;
  }
  buffer_.consume(static_cast<std::size_t>(n));
  if (!buffer_.empty()) return;
  loop_->unwatch_writer(pipe_.fileno());
  maybe_resume_protocol(buffer_.size());  // may write
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

void WritePipeTransport::discard_write_buffer() noexcept {
  if (!buffer_.empty()) loop_->unwatch_writer(pipe_.fileno());
  buffer_.clear();
}

}  // namespace aio
