#include "net/streams.h"

#include <memory>
#include <utility>

#include "loop/errors.h"

namespace aio {
namespace {

// The client side: one protocol, made before connecting so that its reader is the one returned.
struct ClientStreams {
  ClientStreams(EventLoop& loop, std::size_t limit)
      : reader(loop, limit), protocol(std::make_shared<StreamReaderProtocol>(loop, reader)) {}
  ProtocolFactory factory() const {
    return [protocol = protocol] { return std::shared_ptr<BaseProtocol>(protocol); };
  }
  Streams finish(EventLoop& loop, Connection<> made) {
    return Streams{reader, StreamWriter(std::move(made.first), protocol, reader, loop)};
  }
  StreamReader reader;
  std::shared_ptr<StreamReaderProtocol> protocol;
};

// The server side: a fresh reader and protocol for every accepted connection.
ProtocolFactory server_factory(EventLoop& loop, ClientConnectedCallback callback,
                               std::size_t limit) {
  if (!callback) throw TypeError("start_server() needs a client_connected_cb");
  StreamReader check(loop, limit);  // an invalid limit fails now, not at the first connection
  return [loop = &loop, callback = std::move(callback), limit] {
    return std::shared_ptr<BaseProtocol>(
        std::make_shared<StreamReaderProtocol>(*loop, StreamReader(*loop, limit), callback));
  };
}

}  // namespace

Coro<Streams> open_connection(ConnectionOptions options, std::size_t limit) {
  EventLoop& loop = get_running_loop();
  ClientStreams streams(loop, limit);
  Connection<> made = co_await create_connection(loop, streams.factory(), std::move(options));
  co_return streams.finish(loop, std::move(made));
}

Coro<Streams> open_connection(std::string host, std::uint16_t port, std::size_t limit) {
  ConnectionOptions options;
  options.host = std::move(host);
  options.port = std::to_string(port);
  co_return co_await open_connection(std::move(options), limit);
}

Coro<ServerRef> start_server(ClientConnectedCallback client_connected_cb, ServerOptions options,
                             std::size_t limit) {
  EventLoop& loop = get_running_loop();
  ProtocolFactory factory = server_factory(loop, std::move(client_connected_cb), limit);
  co_return co_await create_server(loop, std::move(factory), std::move(options));
}

Coro<ServerRef> start_server(ClientConnectedCallback client_connected_cb, std::string host,
                             std::uint16_t port, std::size_t limit) {
  EventLoop& loop = get_running_loop();
  ProtocolFactory factory = server_factory(loop, std::move(client_connected_cb), limit);
  co_return co_await create_server(loop, std::move(factory), std::move(host), port);
}

Coro<Streams> open_unix_connection(std::optional<std::string> path, Socket sock, SslOptions tls,
                                   std::size_t limit) {
  EventLoop& loop = get_running_loop();
  ClientStreams streams(loop, limit);
  Connection<> made = co_await create_unix_connection(loop, streams.factory(), std::move(path),
                                                      std::move(sock), std::move(tls));
  co_return streams.finish(loop, std::move(made));
}

Coro<ServerRef> start_unix_server(ClientConnectedCallback client_connected_cb,
                                  std::optional<std::string> path, Socket sock, int backlog,
                                  bool start_serving, SslOptions tls, std::size_t limit) {
  EventLoop& loop = get_running_loop();
  ProtocolFactory factory = server_factory(loop, std::move(client_connected_cb), limit);
  co_return co_await create_unix_server(loop, std::move(factory), std::move(path), std::move(sock),
                                        backlog, start_serving, std::move(tls));
}

}  // namespace aio
