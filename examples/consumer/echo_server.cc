// An upper-casing TCP echo server on @aio//net alone: `echo_server [port]` (default: any free
// port on 127.0.0.1) prints the port it listens on and serves until killed.
#include <cstdio>
#include <memory>
#include <string>

#include "echo.h"
#include "loop/loop.h"
#include "net/net.h"

namespace {

aio::Coro<void> serve(std::string port) {
  aio::ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = port;
  aio::ServerRef server = co_await aio::create_server(
      aio::get_running_loop(), [] { return std::make_shared<consumer::UpperEcho>(); },
      std::move(options));
  std::printf("listening on %d\n", server->sockets().front().getsockname().port());
  std::fflush(stdout);
  co_await server->serve_forever();
}

}  // namespace

int main(int argc, char** argv) {
  aio::run(serve(argc > 1 ? argv[1] : "0"));
  return 0;
}
