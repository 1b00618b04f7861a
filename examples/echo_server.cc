// An echo server on aio's Protocol API: every byte a client sends comes straight back.
//
//   echo_server [--host 127.0.0.1] [--port 8888]     TCP (--port 0: any free port)
//   echo_server --unix /tmp/echo.sock                  a UNIX stream socket
//
// Prints "listening on PORT" (or "listening on PATH") once it listens, then serves until
// killed. It keeps to the contract of bench/echo's load generator (bench/echo/README.md).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "loop/loop.h"
#include "net/net.h"

namespace {

class Echo : public aio::Protocol {
 public:
  void connection_made(aio::Transport& transport) override { transport_ = &transport; }
  void data_received(std::span<const std::byte> data) override { transport_->write(data); }

 private:
  aio::Transport* transport_ = nullptr;  // valid until connection_lost
};

struct Args {
  std::string host = "127.0.0.1";
  int port = 8888;
  std::optional<std::string> unix_path;
};

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && std::strcmp(argv[i], "--host") == 0) {
      args.host = argv[++i];
    } else if (i + 1 < argc && std::strcmp(argv[i], "--port") == 0) {
      args.port = std::atoi(argv[++i]);
    } else if (i + 1 < argc && std::strcmp(argv[i], "--unix") == 0) {
      args.unix_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--host ADDR] [--port N] | --unix PATH\n", argv[0]);
      std::exit(2);
    }
  }
  return args;
}

aio::Coro<void> serve(const Args& args) {
  aio::EventLoop& loop = aio::get_running_loop();
  auto factory = [] { return std::make_shared<Echo>(); };
  aio::ServerRef server = args.unix_path
                              ? co_await aio::create_unix_server(loop, factory, args.unix_path)
                              : co_await aio::create_server(loop, factory, args.host,
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

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  aio::run(serve(args));
}
