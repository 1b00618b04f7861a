// A write pipe seen as a Transport (internal to //process): StreamWriter writes to a Transport,
// a child's stdin is a WriteTransport only. Reading is never on; the rest is forwarded.
#ifndef AIO_PROCESS_STDIN_TRANSPORT_H_
#define AIO_PROCESS_STDIN_TRANSPORT_H_

#include <any>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "loop/ref.h"
#include "net/transports.h"

namespace aio::internal {

class StdinTransport final : public Transport {
 public:
  explicit StdinTransport(Ref<WriteTransport> pipe) : pipe_(std::move(pipe)) {}

  void close() override { pipe_->close(); }
  bool is_closing() const override { return pipe_->is_closing(); }
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override {
    return pipe_->get_extra_info(name, std::move(default_value));
  }
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override {
    pipe_->set_protocol(std::move(protocol));
  }
  std::shared_ptr<BaseProtocol> get_protocol() const override { return pipe_->get_protocol(); }
  std::string repr() const override { return pipe_->repr(); }

  bool is_reading() const override { return false; }
  void pause_reading() override {}
  void resume_reading() override {}

  using WriteTransport::write;
  void write(std::span<const std::byte> data) override { pipe_->write(data); }
  void write_eof() override { pipe_->write_eof(); }
  bool can_write_eof() const override { return pipe_->can_write_eof(); }
  void abort() override { pipe_->abort(); }
  std::size_t get_write_buffer_size() const override { return pipe_->get_write_buffer_size(); }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override {
    return pipe_->get_write_buffer_limits();
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override {
    pipe_->set_write_buffer_limits(high, low);
  }

 private:
  Ref<WriteTransport> pipe_;
};

}  // namespace aio::internal

#endif  // AIO_PROCESS_STDIN_TRANSPORT_H_
