// aio::StreamReaderProtocol: asyncio.StreamReaderProtocol, the Protocol that feeds a
// StreamReader from a transport and provides the flow control StreamWriter.drain() waits on
// (asyncio's FlowControlMixin). Servers made by start_server give each connection one, with a
// client_connected_cb that receives the connection's (reader, writer).
#ifndef AIO_NET_STREAM_READER_PROTOCOL_H_
#define AIO_NET_STREAM_READER_PROTOCOL_H_

#include <concepts>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "loop/task.h"
#include "net/protocols.h"
#include "net/stream_reader.h"
#include "net/stream_writer.h"
#include "net/transports.h"

namespace aio {

// start_server's client_connected_cb: a plain function `void(StreamReader, StreamWriter)`, or a
// coroutine function `Coro<void>(StreamReader, StreamWriter)`, whose coroutine then runs as a
// Task (as asyncio does when the callback returns a coroutine).
class ClientConnectedCallback {
 public:
  using Plain = std::function<void(StreamReader, StreamWriter)>;
  using Coroutine = std::function<Coro<void>(StreamReader, StreamWriter)>;

  ClientConnectedCallback() = default;
  template <class F>
    requires std::invocable<F&, StreamReader, StreamWriter>
  ClientConnectedCallback(F fn) {
    if constexpr (std::is_same_v<std::invoke_result_t<F&, StreamReader, StreamWriter>,
                                 Coro<void>>) {
      coroutine_ = std::make_shared<Coroutine>(std::move(fn));
    } else {
      plain_ = std::make_shared<Plain>(std::move(fn));
    }
  }
  explicit operator bool() const { return plain_ || coroutine_; }

  // Shared, not copied, between the protocols of one server; a running callback task holds
  // its own reference (a coroutine lambda's captures must outlive its coroutine).
  std::shared_ptr<Plain> plain_;
  std::shared_ptr<Coroutine> coroutine_;
};

class StreamReaderProtocol : public Protocol,
                             public std::enable_shared_from_this<StreamReaderProtocol> {
 public:
  // `reader` may be unset (then received data is dropped). With `client_connected_cb`,
  // connection_made creates the StreamWriter and calls it; that needs a reader (ValueError
  // otherwise) and the protocol owned by a std::shared_ptr (as every protocol factory's is).
  StreamReaderProtocol(EventLoop& loop, std::optional<StreamReader> reader,
                       ClientConnectedCallback client_connected_cb = {});
  ~StreamReaderProtocol() override;

  void connection_made(Transport& transport) override;
  void connection_made(ReadTransport& transport) override;
  void connection_lost(std::exception_ptr error) override;
  void data_received(std::span<const std::byte> data) override;
  bool eof_received() override;
  void pause_writing() override;
  void resume_writing() override;

  // Internal (StreamWriter).
  // asyncio's _drain_helper, split so that drain() needs no extra coroutine frame: throws
  // ConnectionResetError("Connection lost") once the connection is gone; nullopt if writing is
  // not paused; else a future done when writing resumes (or the connection is lost).
  std::optional<Future<void>> drain_waiter();
  Future<void> closed() const { return closed_; }

 private:
  void start_client_callback(Transport& transport);

  EventLoop* loop_;
  std::optional<StreamReader> reader_;
  ClientConnectedCallback client_connected_cb_;
  // Neither the writer nor the callback's Task is kept here (asyncio keeps both): the writer
  // holds this protocol, and a transport dropped with its loop never calls connection_lost, so
  // either would make a cycle that is never broken. The task lives as long as what it awaits.
  TransportRef transport_;
  bool over_ssl_ = false;
  Future<void> closed_;  // done at connection_lost (with its error, if any)
  // FlowControlMixin.
  bool paused_ = false;
  bool connection_lost_ = false;
  std::vector<Future<void>> drain_waiters_;
};

}  // namespace aio

#endif  // AIO_NET_STREAM_READER_PROTOCOL_H_
