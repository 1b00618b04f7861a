#include "net/stream_reader_protocol.h"

#include <utility>

#include "loop/errors.h"
#include "loop/exception_context.h"

namespace aio {
namespace {

// The Task of a coroutine client_connected_cb. `callback` is held by the frame: the coroutine
// it returns may refer to the callable's captures for as long as it runs.
Coro<void> run_client_connected(std::shared_ptr<ClientConnectedCallback::Coroutine> callback,
                                StreamReader reader, StreamWriter writer) {
  co_await (*callback)(std::move(reader), std::move(writer));
}

}  // namespace

StreamReaderProtocol::StreamReaderProtocol(EventLoop& loop, std::optional<StreamReader> reader,
                                           ClientConnectedCallback client_connected_cb)
    : loop_(&loop),
      reader_(std::move(reader)),
      client_connected_cb_(std::move(client_connected_cb)),
      closed_(loop.create_future()) {
  if (client_connected_cb_ && !reader_) {
    throw ValueError("a client_connected_cb needs a stream_reader");
  }
}

StreamReaderProtocol::~StreamReaderProtocol() {
  // Nobody awaited wait_closed(): the connection's error was seen by the reads, not lost.
  if (closed_.done() && !closed_.cancelled()) closed_.exception();
}

void StreamReaderProtocol::connection_made(Transport& transport) {
  transport_ = TransportRef::share(&transport);
  if (reader_) reader_->set_transport(transport);
  over_ssl_ = transport.get_extra_info("sslcontext").has_value();
  if (client_connected_cb_) start_client_callback(transport);
}

void StreamReaderProtocol::connection_made(ReadTransport& transport) {
  // A read pipe: nothing to write to, so no writer and no callback.
  if (reader_) reader_->set_transport(transport);
}

void StreamReaderProtocol::start_client_callback(Transport& transport) {
  StreamWriter writer(transport_, shared_from_this(), reader_, *loop_);
  if (client_connected_cb_.plain_) {
    (*client_connected_cb_.plain_)(*reader_, std::move(writer));
    return;
  }
  Task<void> task = loop_->create_task(
      run_client_connected(client_connected_cb_.coroutine_, *reader_, std::move(writer)));
  // A callback that fails (or is cancelled) must not leave its connection open for ever: the
  // error goes to the exception handler and the transport is closed (as CPython 3.12; 3.8 only
  // logged "Task exception was never retrieved" and left the connection open).
  task.add_done_callback([loop = loop_, transport = transport_](Future<void>& done) {
    if (done.cancelled()) {
      transport->close();
      return;
    }
    if (std::exception_ptr error = done.exception()) {
      ExceptionContext context;
      context.message = "Unhandled exception in client_connected_cb";
      context.exception = error;
      context.details["transport"] =
          ContextValue(transport->repr(), internal::Ref<BaseTransport>(transport));
      loop->call_exception_handler(context);
      transport->close();
    }
  });
}

void StreamReaderProtocol::connection_lost(std::exception_ptr error) {
  if (reader_) {
    if (error) {
      reader_->set_exception(error);
    } else {
      reader_->feed_eof();
    }
  }
  if (!closed_.done()) {
    if (error) {
      closed_.set_exception(error);
    } else {
      closed_.set_result();
    }
  }
  // FlowControlMixin: a drain() waiting for resume_writing gets the connection's outcome.
  connection_lost_ = true;
  if (paused_) {
    std::vector<Future<void>> waiters = std::move(drain_waiters_);
    drain_waiters_.clear();
    for (Future<void>& waiter : waiters) {
      if (waiter.done()) continue;
      if (error) {
        waiter.set_exception(error);
      } else {
        waiter.set_result();
      }
    }
  }
  // Break the cycle through the transport (it holds this protocol) and let the reader go.
  reader_.reset();
  transport_.reset();
}

void StreamReaderProtocol::data_received(std::span<const std::byte> data) {
  if (reader_) reader_->feed_data(data);
}

bool StreamReaderProtocol::eof_received() {
  if (reader_) reader_->feed_eof();
  // Keep the write side open (the user closes the writer); over TLS that has no effect and
  // SSLProtocol would warn, so say no there.
  return !over_ssl_;
}

void StreamReaderProtocol::pause_writing() { paused_ = true; }

void StreamReaderProtocol::resume_writing() {
  paused_ = false;
  std::vector<Future<void>> waiters = std::move(drain_waiters_);
  drain_waiters_.clear();
  for (Future<void>& waiter : waiters) {
    if (!waiter.done()) waiter.set_result();
  }
}

std::optional<Future<void>> StreamReaderProtocol::drain_waiter() {
  // Python's ConnectionResetError('Connection lost') has no errno: err() is 0 here.
  if (connection_lost_) throw ConnectionResetError(0, "Connection lost", true);
  if (!paused_) return std::nullopt;
  std::erase_if(drain_waiters_, [](const Future<void>& waiter) { return waiter.done(); });
  Future<void> waiter = loop_->create_future();
  drain_waiters_.push_back(waiter);
  return waiter;
}

}  // namespace aio
