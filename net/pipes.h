// Working with pipes: asyncio's loop.connect_read_pipe and loop.connect_write_pipe.
#ifndef AIO_NET_PIPES_H_
#define AIO_NET_PIPES_H_

#include <functional>
#include <memory>
#include <utility>

#include "loop/event_loop.h"
#include "loop/task.h"
#include "net/file.h"
#include "net/pipe_transport.h"

namespace aio {

// The read end of a pipe, FIFO, socket, character device or PTY master as a ReadTransport.
// The transport takes `pipe` over (moves from it) only once it accepted it: a refused file (a
// regular file: ValueError) stays the caller's, open and untouched, as in asyncio. Pass
// File::borrow(fd) to keep the fd open after the transport closes. `pipe` must outlive the
// co_await (as a Socket& for the sock_* calls).
Coro<std::pair<internal::Ref<ReadPipeTransport>, std::shared_ptr<BaseProtocol>>> connect_read_pipe(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory, File& pipe);
// The same, consuming the File: a refused one is closed with the call.
Coro<std::pair<internal::Ref<ReadPipeTransport>, std::shared_ptr<BaseProtocol>>> connect_read_pipe(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory, File&& pipe);

// The write end as a WriteTransport (same ownership rules).
Coro<std::pair<internal::Ref<WritePipeTransport>, std::shared_ptr<BaseProtocol>>>
connect_write_pipe(EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory,
                   File& pipe);
Coro<std::pair<internal::Ref<WritePipeTransport>, std::shared_ptr<BaseProtocol>>>
connect_write_pipe(EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory,
                   File&& pipe);

}  // namespace aio

#endif  // AIO_NET_PIPES_H_
