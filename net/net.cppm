// The named module aio.net: `import aio.net;` gives //net's API (transports, protocols,
// connections, servers, datagrams, pipes, sendfile, sock_* and streams) and, re-exported,
// aio.loop's (every net call runs on a loop). The headers stay the source of truth; this unit
// exports the names they declare (tools/module_exports.py checks the list against them).
module;

#include "net/net.h"

export module aio.net;

export import aio.loop;

export namespace aio {
// net/address.h
using aio::SocketAddress;

// net/connection.h
using aio::connect_accepted_socket;
using aio::Connection;
using aio::ConnectionOptions;
using aio::create_connection;
using aio::create_unix_connection;
using aio::FactoryOf;
using aio::ProtocolFactory;

// net/datagram.h
using aio::create_datagram_endpoint;
using aio::DatagramEndpoint;
using aio::DatagramOptions;

// net/datagram_transport.h
using aio::DatagramSocketTransport;

// net/file.h
using aio::File;

// net/pipe_transport.h
using aio::ReadPipeTransport;
using aio::WritePipeTransport;

// net/pipes.h
using aio::connect_read_pipe;
using aio::connect_write_pipe;

// net/protocols.h
using aio::BaseProtocol;
using aio::BufferedProtocol;
using aio::DatagramProtocol;
using aio::Protocol;

// net/sendfile.h
using aio::sendfile;
using aio::sock_sendfile;

// net/server.h
using aio::create_server;
using aio::create_unix_server;
using aio::Server;
using aio::ServerOptions;
using aio::ServerRef;

// net/sock_ops.h
using aio::sock_accept;
using aio::sock_connect;
using aio::sock_recv;
using aio::sock_recv_into;
using aio::sock_sendall;

// net/socket.h
using aio::Socket;

// net/socket_transport.h
using aio::SocketTransport;

// net/stream_errors.h
using aio::EOFError;
using aio::IncompleteReadError;
using aio::LimitOverrunError;

// net/stream_reader.h
using aio::kDefaultStreamLimit;
using aio::StreamReader;

// net/stream_reader_protocol.h
using aio::ClientConnectedCallback;
using aio::StreamReaderProtocol;

// net/stream_writer.h
using aio::StreamWriter;

// net/streams.h
using aio::open_connection;
using aio::open_unix_connection;
using aio::start_server;
using aio::start_unix_server;
using aio::Streams;

// net/transport_security.h
using aio::SslOptions;
using aio::TransportSecurity;

// net/transports.h
using aio::BaseTransport;
using aio::DatagramTransport;
using aio::DatagramTransportRef;
using aio::ReadTransport;
using aio::Transport;
using aio::TransportRef;
using aio::WriteTransport;
}  // namespace aio
