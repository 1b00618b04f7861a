#include "net/pipes.h"

namespace aio {
namespace {

// asyncio's shape: make the protocol and transport, wait until connection_made has run,
// close the transport if that wait is cancelled.
template <class T>
Coro<std::pair<internal::Ref<T>, std::shared_ptr<BaseProtocol>>> connect_pipe(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory, File& pipe) {
  loop.check_closed();
  std::shared_ptr<BaseProtocol> protocol = factory();
  Future<void> waiter = loop.create_future();
  internal::Ref<T> transport = T::create(loop, pipe, protocol, waiter);
  try {
    co_await waiter;
  } catch (...) {
    transport->close();
    throw;
  }
  co_return std::make_pair(std::move(transport), std::move(protocol));
}

// The consuming form: `pipe` is moved into this frame at the call, while the caller's
// temporary is still alive.
template <class T>
Coro<std::pair<internal::Ref<T>, std::shared_ptr<BaseProtocol>>> connect_owned_pipe(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory, File pipe) {
  co_return co_await connect_pipe<T>(loop, std::move(factory), pipe);
}

}  // namespace

Coro<std::pair<internal::Ref<ReadPipeTransport>, std::shared_ptr<BaseProtocol>>> connect_read_pipe(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory, File& pipe) {
  return connect_pipe<ReadPipeTransport>(loop, std::move(factory), pipe);
}

Coro<std::pair<internal::Ref<ReadPipeTransport>, std::shared_ptr<BaseProtocol>>> connect_read_pipe(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory, File&& pipe) {
  return connect_owned_pipe<ReadPipeTransport>(loop, std::move(factory), std::move(pipe));
}

Coro<std::pair<internal::Ref<WritePipeTransport>, std::shared_ptr<BaseProtocol>>>
connect_write_pipe(EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory,
                   File& pipe) {
  return connect_pipe<WritePipeTransport>(loop, std::move(factory), pipe);
}

Coro<std::pair<internal::Ref<WritePipeTransport>, std::shared_ptr<BaseProtocol>>>
connect_write_pipe(EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory,
                   File&& pipe) {
  return connect_owned_pipe<WritePipeTransport>(loop, std::move(factory), std::move(pipe));
}

}  // namespace aio
