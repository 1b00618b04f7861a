// Small pieces every fd-based transport shares: errno to exception, the would-block test,
// asyncio's _fatal_error reporting rule, SIGPIPE handling and letting go of the fd.
#ifndef AIO_NET_TRANSPORT_UTIL_H_
#define AIO_NET_TRANSPORT_UTIL_H_

#include <cerrno>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>

#include "loop/event_loop.h"
#include "net/closes_with_loop.h"
#include "net/protocols.h"
#include "net/transports.h"

namespace aio::internal {

// asyncio's max_size: the most one read takes, so one busy connection cannot starve others.
constexpr std::size_t kMaxRead = 256 * 1024;
// asyncio's LOG_THRESHOLD_FOR_CONNLOST_WRITES: lost writes warn from this one on.
constexpr int kWarnAfterLostWrites = 5;

// One receive buffer of kMaxRead bytes per thread: protocols see it only during their call.
std::byte* receive_buffer();

// The OSError subclass for `err`, as an exception_ptr (for connection_lost and futures).
std::exception_ptr os_error(int err);

// The exception being handled, unless it is an Interrupt, which is rethrown: it must leave the
// loop (asyncio re-raises SystemExit and KeyboardInterrupt everywhere).
std::exception_ptr current_error_unless_interrupt();

inline bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// write(2) to a pipe whose reader is gone, and sendfile(2) to a socket whose peer is gone,
// raise SIGPIPE, which kills the process by default (send() avoids it with MSG_NOSIGNAL; these
// cannot). Like CPython, which ignores SIGPIPE at startup, the first such transfer makes SIGPIPE
// ignored, unless the program installed a handler of its own; EPIPE then reaches the caller as
// BrokenPipeError.
void ignore_sigpipe_once();

// A transport letting go of its fd in the loop before closing it: both watchers removed, the fd
// no longer owned, the transport no longer closed with the loop. A no-op once the loop closed
// (`loop` null).
void release_transport_fd(EventLoop* loop, int fd, ClosesWithLoop* transport) noexcept;

// The OSError half of it: only a debug-mode log record, carrying the error as its exception.
void log_os_error(EventLoop& loop, const std::exception_ptr& error, const char* message,
                  BaseTransport& transport);

// asyncio's _fatal_error reporting: an OSError is only logged in debug mode; anything else goes
// to the exception handler with `message`, the transport and the protocol (the objects, with
// their descriptions). The debug log record of an OSError carries it as its exception.
void report_fatal_error(EventLoop& loop, const std::exception_ptr& error, const char* message,
                        BaseTransport& transport, const std::shared_ptr<BaseProtocol>& protocol);

// The 'transport' and 'protocol' keys of an exception-handler context (protocol if non-null).
void add_transport_and_protocol(ExceptionContext& context, BaseTransport& transport,
                                const std::shared_ptr<BaseProtocol>& protocol);

}  // namespace aio::internal

#endif  // AIO_NET_TRANSPORT_UTIL_H_
