// aio's streams echo server for bench/echo (run with the load generator's --lines): one
// coroutine per connection doing readline / write / drain per message, the way an asyncio
// streams server is written. Compare with //examples:echo_server (the Protocol API) and
// bench/echo/asyncio_streams_echo_server.py (CPython's asyncio or uvloop, same shape).
#include <cstdint>
#include <string>

#include "bench/echo/server_args.h"
#include "loop/loop.h"
#include "net/net.h"

namespace {

aio::Coro<void> echo_lines(aio::StreamReader reader, aio::StreamWriter writer) {
  try {
    while (true) {
      std::string line = co_await reader.readline();
      if (line.empty()) break;
      writer.write(line);
      co_await writer.drain();
    }
  } catch (const std::exception&) {
    // The load generator just stops at the end of a run: a reset is normal.
  }
  writer.close();
}

aio::Coro<void> serve(echo_bench::ServerArgs args) {
  aio::ServerRef server =
      co_await aio::start_server(echo_lines, args.host, static_cast<std::uint16_t>(args.port));
  echo_bench::announce_port(server->sockets().front().getsockname().port());
  co_await server->serve_forever();
}

}  // namespace

int main(int argc, char** argv) { aio::run(serve(echo_bench::parse_server_args(argc, argv))); }
