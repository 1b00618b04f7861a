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

// The read end of a pipe, FIFO, socket, character device or PTY master as a ReadTransport;
// the transport owns `pipe` (pass File::borrow(fd) to keep the fd open after it).
Coro<std::pair<internal::Ref<ReadPipeTransport>, std::shared_ptr<BaseProtocol>>> connect_read_pipe(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory, File pipe);

// The write end as a WriteTransport.
Coro<std::pair<internal::Ref<WritePipeTransport>, std::shared_ptr<BaseProtocol>>>
connect_write_pipe(EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory,
                   File pipe);

}  // namespace aio

#endif  // AIO_NET_PIPES_H_
