// Working with socket objects directly: asyncio's loop.sock_recv, sock_recv_into,
// sock_sendall, sock_connect and sock_accept, as coroutines on a non-blocking Socket.
//
// Each tries the system call first and waits on an fd watcher only when it would block. A
// cancelled operation removes its watcher and consumes nothing, so the next operation on the
// socket sees every byte. In debug mode a blocking socket is refused (ValueError "the socket
// must be non-blocking"), before anything else. An operation that has to wait on a socket a
// transport owns is refused (RuntimeError "File descriptor N is used by transport ..."), as
// asyncio's _ensure_fd_no_transport.
#ifndef AIO_NET_SOCK_OPS_H_
#define AIO_NET_SOCK_OPS_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "loop/event_loop.h"
#include "loop/task.h"
#include "net/address.h"
#include "net/socket.h"

namespace aio {

// Up to `nbytes` bytes; "" at EOF.
Coro<std::string> sock_recv(EventLoop& loop, Socket& sock, std::size_t nbytes);
// Bytes received into `buffer`; 0 at EOF.
Coro<std::size_t> sock_recv_into(EventLoop& loop, Socket& sock, std::span<std::byte> buffer);
// All of `data`, or an OSError (with some of it possibly sent, as asyncio).
Coro<void> sock_sendall(EventLoop& loop, Socket& sock, std::span<const std::byte> data);
Coro<void> sock_sendall(EventLoop& loop, Socket& sock, std::string_view data);
// Connects to a resolved address. OSError "[Errno N] Connect call failed ('1.2.3.4', 80)" when
// the connection attempt fails after waiting, as asyncio.
Coro<void> sock_connect(EventLoop& loop, Socket& sock, SocketAddress address);
// Resolves `host` with the socket's family, type and protocol first (numeric hosts without a
// lookup), then connects to the first address. IP sockets only (ValueError otherwise).
Coro<void> sock_connect(EventLoop& loop, Socket& sock, std::string host, std::uint16_t port);
// A new non-blocking connection and its peer's address.
Coro<std::pair<Socket, SocketAddress>> sock_accept(EventLoop& loop, Socket& sock);

}  // namespace aio

#endif  // AIO_NET_SOCK_OPS_H_
