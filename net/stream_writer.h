// aio::StreamWriter: asyncio.StreamWriter, a transport wrapped with drain() for flow control
// and wait_closed(). A cheap handle: copies refer to the same writer.
#ifndef AIO_NET_STREAM_WRITER_H_
#define AIO_NET_STREAM_WRITER_H_

#include <any>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loop/event_loop.h"
#include "loop/task.h"
#include "net/stream_reader.h"
#include "net/transports.h"

namespace aio {

class StreamReaderProtocol;

class StreamWriter {
 public:
  // `reader` (optional) is the connection's reader: drain() raises its exception.
  StreamWriter(TransportRef transport, std::shared_ptr<StreamReaderProtocol> protocol,
               std::optional<StreamReader> reader, EventLoop& loop);

  Transport& transport() const { return *transport_; }
  EventLoop& get_loop() const { return *loop_; }

  void write(std::span<const std::byte> data) { transport_->write(data); }
  void write(std::string_view data) { transport_->write(data); }
  void writelines(const std::vector<std::span<const std::byte>>& pieces) {
    transport_->writelines(pieces);
  }
  void writelines(const std::vector<std::string_view>& pieces);
  void write_eof() { transport_->write_eof(); }
  bool can_write_eof() const { return transport_->can_write_eof(); }
  void close() { transport_->close(); }
  bool is_closing() const { return transport_->is_closing(); }
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const {
    return transport_->get_extra_info(name, std::move(default_value));
  }

  // Waits until the write buffer has drained to the low-water mark if the transport paused
  // writing. Raises the reader's exception if the connection failed; if the transport is
  // closing, first yields one loop iteration (so connection_lost can run), then raises
  // ConnectionResetError("Connection lost") once the connection is gone.
  Coro<void> drain();
  // Waits until the connection is closed (connection_lost ran); raises its error, if any.
  // Cancelling it does not affect later calls (asyncio's would then raise CancelledError).
  Coro<void> wait_closed();

  // "<StreamWriter transport=<...> reader=<StreamReader ...>>".
  std::string repr() const;

  struct Shared;  // internal

 private:
  TransportRef transport_;  // also in shared_: kept here for the inline calls above
  // What drain() and wait_closed() need, behind one reference: a drain() per message then
  // takes one reference count, not three.
  std::shared_ptr<const Shared> shared_;
  EventLoop* loop_;
};

}  // namespace aio

#endif  // AIO_NET_STREAM_WRITER_H_
