// asyncio's high-level streams API: open_connection / start_server and their UNIX forms give
// (StreamReader, StreamWriter) pairs instead of a transport and a protocol.
//
//   auto [reader, writer] = co_await aio::open_connection("127.0.0.1", 8888);
//   writer.write("hello\n");
//   co_await writer.drain();
//   std::string line = co_await reader.readline();
//   writer.close();
//   co_await writer.wait_closed();
//
// Every option of create_connection / create_server passes through: the option structs are
// taken whole (ConnectionOptions, ServerOptions, including `ssl`), plus `limit`, the readers'
// buffer limit. Over TLS the reader and writer work on the TLS transport.
#ifndef AIO_NET_STREAMS_H_
#define AIO_NET_STREAMS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "loop/task.h"
#include "net/connection.h"
#include "net/server.h"
#include "net/socket.h"
#include "net/stream_errors.h"
#include "net/stream_reader.h"
#include "net/stream_reader_protocol.h"
#include "net/stream_writer.h"
#include "net/transport_security.h"

namespace aio {

// What the open_* coroutines return (structured bindings: auto [reader, writer] = ...).
using Streams = std::pair<StreamReader, StreamWriter>;

// asyncio.open_connection, on the running loop: create_connection with a StreamReaderProtocol.
Coro<Streams> open_connection(ConnectionOptions options, std::size_t limit = kDefaultStreamLimit);
Coro<Streams> open_connection(std::string host, std::uint16_t port,
                              std::size_t limit = kDefaultStreamLimit);

// asyncio.start_server, on the running loop: create_server whose every connection gets a
// StreamReaderProtocol; `client_connected_cb(reader, writer)` is called for each (a coroutine
// callback runs as a Task; if it fails, the error goes to the loop's exception handler as
// "Unhandled exception in client_connected_cb" and the connection is closed).
// TypeError("start_server() needs a client_connected_cb") for an empty callback.
Coro<ServerRef> start_server(ClientConnectedCallback client_connected_cb, ServerOptions options,
                             std::size_t limit = kDefaultStreamLimit);
Coro<ServerRef> start_server(ClientConnectedCallback client_connected_cb, std::string host,
                             std::uint16_t port, std::size_t limit = kDefaultStreamLimit);

// asyncio.open_unix_connection / start_unix_server: the arguments of create_unix_connection /
// create_unix_server in their order (`tls` is their ssl / server_hostname /
// ssl_handshake_timeout: TLS over the UNIX socket), plus `limit`.
Coro<Streams> open_unix_connection(std::optional<std::string> path, Socket sock = {},
                                   SslOptions tls = {}, std::size_t limit = kDefaultStreamLimit);
Coro<ServerRef> start_unix_server(ClientConnectedCallback client_connected_cb,
                                  std::optional<std::string> path, Socket sock = {},
                                  int backlog = 100, bool start_serving = true, SslOptions tls = {},
                                  std::size_t limit = kDefaultStreamLimit);

}  // namespace aio

#endif  // AIO_NET_STREAMS_H_
