// A line-based echo server and its client, written with aio's streams (asyncio's
// open_connection / start_server): the server reads a line, writes it back and drains, until
// the client half-closes; the client sends each line of its stdin and prints each echo.
//
//   line_echo server [--host 127.0.0.1] [--port 8888]   TCP (--port 0: any free port)
//   line_echo server --unix /tmp/echo.sock                a UNIX stream socket
//   line_echo client [--host 127.0.0.1] --port N          stdin lines -> server -> stdout
//   line_echo client --unix /tmp/echo.sock
//
// The server prints "listening on PORT" (or "listening on PATH") once it listens, then serves
// until killed; at a client's EOF it answers "bye after N lines" and closes that connection.
// The client reads its stdin through a StreamReader too (connect_read_pipe with a
// StreamReaderProtocol), so it works with a pipe, a socket or a terminal on stdin.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "loop/loop.h"
#include "net/net.h"

namespace {

struct Args {
  bool server = false;
  std::string host = "127.0.0.1";
  int port = 8888;
  std::optional<std::string> unix_path;
};

Args parse(int argc, char** argv) {
  Args args;
  if (argc < 2 || (std::strcmp(argv[1], "server") != 0 && std::strcmp(argv[1], "client") != 0)) {
    std::fprintf(stderr, "usage: %s server|client [--host ADDR] [--port N] | --unix PATH\n",
                 argv[0]);
    std::exit(2);
  }
  args.server = std::strcmp(argv[1], "server") == 0;
  for (int i = 2; i < argc; ++i) {
    if (i + 1 < argc && std::strcmp(argv[i], "--host") == 0) {
      args.host = argv[++i];
    } else if (i + 1 < argc && std::strcmp(argv[i], "--port") == 0) {
      args.port = std::atoi(argv[++i]);
    } else if (i + 1 < argc && std::strcmp(argv[i], "--unix") == 0) {
      args.unix_path = argv[++i];
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      std::exit(2);
    }
  }
  return args;
}

// One client's conversation (a coroutine client_connected_cb: it runs as its own Task).
aio::Coro<void> handle_client(aio::StreamReader reader, aio::StreamWriter writer) {
  int lines = 0;
  try {
    while (true) {
      std::string line = co_await reader.readline();  // "" at EOF
      if (line.empty()) break;
      ++lines;
      writer.write(line);
      co_await writer.drain();  // wait while the client is slow to read
    }
    writer.write("bye after " + std::to_string(lines) + " lines\n");
    co_await writer.drain();
  } catch (const std::exception& e) {
    // A line longer than the limit (ValueError), a reset connection...: drop this client.
    std::fprintf(stderr, "client dropped: %s\n", e.what());
  }
  writer.close();
}

aio::Coro<void> serve(const Args& args) {
  aio::ServerRef server = args.unix_path
                              ? co_await aio::start_unix_server(handle_client, args.unix_path)
                              : co_await aio::start_server(handle_client, args.host,
                                                           static_cast<std::uint16_t>(args.port));
  aio::SocketAddress address = server->sockets().front().getsockname();
  if (args.unix_path) {
    std::printf("listening on %s\n", address.path().c_str());
  } else {
    std::printf("listening on %d\n", address.port());
  }
  std::fflush(stdout);
  co_await server->serve_forever();
}

aio::Coro<void> client(const Args& args) {
  aio::EventLoop& loop = aio::get_running_loop();
  auto [reader, writer] = args.unix_path ? co_await aio::open_unix_connection(args.unix_path)
                                         : co_await aio::open_connection(
                                               args.host, static_cast<std::uint16_t>(args.port));
  // stdin as a StreamReader: a StreamReaderProtocol on a read pipe transport.
  aio::StreamReader input(loop);
  auto protocol = std::make_shared<aio::StreamReaderProtocol>(loop, input);
  auto [stdin_transport, unused] =
      co_await aio::connect_read_pipe(loop, [protocol] { return protocol; }, aio::File::borrow(0));
  while (true) {
    std::string line = co_await input.readline();
    if (line.empty()) break;
    if (line.back() != '\n') line += '\n';  // a last line without its newline
    writer.write(line);
    co_await writer.drain();
    std::string echo = co_await reader.readline();
    std::fwrite(echo.data(), 1, echo.size(), stdout);
  }
  stdin_transport->close();
  writer.write_eof();  // the server answers with its last line, then closes
  std::string rest = co_await reader.read();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  writer.close();
  co_await writer.wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  if (args.server) {
    aio::run(serve(args));
  } else {
    aio::run(client(args));
  }
}
