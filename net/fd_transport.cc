#include "net/fd_transport.h"

#include <utility>

#include "loop/errors.h"
#include "loop/logging.h"
#include "net/transport_util.h"

namespace aio::internal {

void FdTransport::adopt_fd(int fd) {
  loop_->set_fd_owner(fd, this);
  register_with_loop(*loop_, this);
}

void FdTransport::close_when_flushed(bool flushed) {
  if (closing_ || loop_ == nullptr) return;
  closing_ = true;
  loop_->unwatch_reader(transport_fd());
  if (flushed) {
    ++conn_lost_;
    loop_->unwatch_writer(transport_fd());
    schedule_connection_lost(nullptr);
  }
}

void FdTransport::schedule_connection_lost(std::exception_ptr error) {
  if (lost_scheduled_ || loop_ == nullptr) return;
  lost_scheduled_ = true;
  loop_->call_soon([this, ref = self_, error = std::move(error)] { call_connection_lost(error); });
}

void FdTransport::call_connection_lost(std::exception_ptr error) {
  lost_scheduled_ = true;
  // Whatever connection_lost does (even throwing), the fd closes and the loop lets go.
  struct Finally {
    FdTransport* transport;
    ~Finally() {
      Ref<BaseTransport> self = std::move(transport->self_);  // dropped last: may destroy all
      transport->release_fd();
      transport->protocol_.reset();
      transport->on_released();
    }
  } finally{this};
  before_connection_lost();
  if (protocol_connected_ && protocol_) {
    protocol_connected_ = false;
    protocol_->connection_lost(error);
  }
}

void FdTransport::force_close(std::exception_ptr error) {
  if (lost_scheduled_ || loop_ == nullptr) return;
  ++conn_lost_;
  close_now(std::move(error));
}

void FdTransport::close_now(std::exception_ptr error) {
  if (lost_scheduled_ || loop_ == nullptr) return;
  discard_write_buffer();
  closing_ = true;
  loop_->unwatch_reader(transport_fd());
  schedule_connection_lost(std::move(error));
}

void FdTransport::fatal_error(std::exception_ptr error, const char* message) {
  if (loop_ == nullptr) return;
  report_fatal_error(*loop_, error, message, *transport_, protocol_);
  force_close(std::move(error));
}

void FdTransport::fatal_os_error(int err, const char* message) {
  if (loop_ == nullptr) return;
  std::exception_ptr error = make_os_error(err);
  log_os_error(*loop_, error, message, *transport_);
  force_close(std::move(error));
}

void FdTransport::drop_lost_write(const char* warning) {
  if (conn_lost_ >= kWarnAfterLostWrites) log(LogLevel::kWarning, warning);
  ++conn_lost_;
}

void FdTransport::release_fd() noexcept {
  int fd = transport_fd();
  if (fd < 0) return;
  release_transport_fd(loop_, fd, this);
  close_transport_fd();
}

void FdTransport::maybe_pause_protocol(std::size_t buffered) {
  if (protocol_ && loop_ != nullptr) flow_.maybe_pause(buffered, *loop_, protocol_, *transport_);
}

void FdTransport::maybe_resume_protocol(std::size_t buffered) {
  if (protocol_ && loop_ != nullptr) flow_.maybe_resume(buffered, *loop_, protocol_, *transport_);
}

void FdTransport::on_loop_closed() noexcept {
  if (!closing_) log(LogLevel::kWarning, "unclosed transport " + repr() + " closed with its loop");
  loop_ = nullptr;  // the loop is closing: nothing of it may be touched any more
  close_transport_fd();
  protocol_.reset();
  closing_ = true;
  lost_scheduled_ = true;
  ++conn_lost_;
  on_released();
  Ref<BaseTransport> self = std::move(self_);  // may destroy this: last
}

}  // namespace aio::internal
