// Transferring files: asyncio's loop.sock_sendfile and loop.sendfile. Native sendfile(2) when
// the kernel can do it, otherwise (or if asked) a read + send fallback with the same result.
// Either way the file's position ends at offset + bytes sent, also when an error stops it.
#ifndef AIO_NET_SENDFILE_H_
#define AIO_NET_SENDFILE_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "loop/event_loop.h"
#include "loop/task.h"
#include "net/file.h"
#include "net/socket.h"
#include "net/transports.h"

namespace aio {

// Sends `count` bytes (all to EOF if unset) of `file` from `offset` over a connected stream
// socket; returns the bytes sent. ValueError for a non-stream socket, a negative offset or a
// zero count (asyncio's messages), and in debug mode for a blocking socket.
// SendfileNotAvailableError when native sendfile cannot be used and `fallback` is false.
Coro<std::size_t> sock_sendfile(EventLoop& loop, Socket& sock, File& file, std::int64_t offset = 0,
                                std::optional<std::size_t> count = std::nullopt,
                                bool fallback = true);

// The same over a stream transport, in order with the writes around it: what was written
// before is flushed first; write() while it runs natively is refused ("unable to write;
// sendfile is in progress"). RuntimeError for a closing transport ("Transport is closing") or
// one that cannot send files (a datagram transport).
Coro<std::size_t> sendfile(EventLoop& loop, BaseTransport& transport, File& file,
                           std::int64_t offset = 0, std::optional<std::size_t> count = std::nullopt,
                           bool fallback = true);

namespace internal {
// Makes native sendfile unavailable (as on a platform without sendfile(2)), so tests can run
// the fallback on the same inputs and compare. Loop thread only.
void set_native_sendfile_enabled(bool enabled);
}  // namespace internal

}  // namespace aio

#endif  // AIO_NET_SENDFILE_H_
