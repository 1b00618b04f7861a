// A small aio program that //signals:child_test signals from outside (one line of output per
// event, line-buffered, so the parent can wait for each before it sends the next signal).
//
//   signal_child count
//     SIGUSR1 prints "usr1 N"; SIGUSR2 removes the SIGUSR1 handler (SIGUSR1 is then SIG_DFL
//     again: the next one ends the process) and prints what remove_signal_handler returned.
//   signal_child serve [--catch | --handlers | --ignore-sigint]
//     An echo server on 127.0.0.1 (a free port), printing "listening on PORT", run by
//     aio::run. Without options it does not catch KeyboardInterrupt (Ctrl-C ends it by
//     SIGINT); --catch catches it and exits 0 after aio::run closed the server and the loop;
//     --handlers adds handlers for SIGHUP (prints, keeps serving) and SIGINT (closes the server,
//     exits 0); --ignore-sigint sets SIGINT to SIG_IGN before the loop runs.
#include <signal.h>

#include <coroutine>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "loop/loop.h"
#include "net/net.h"
#include "signals/signals.h"

namespace {

class Echo : public aio::Protocol {
 public:
  void connection_made(aio::Transport& transport) override { transport_ = &transport; }
  void data_received(std::span<const std::byte> data) override { transport_->write(data); }

 private:
  aio::Transport* transport_ = nullptr;
};

int count() {
  aio::EventLoop loop;
  int usr1 = 0;
  aio::add_signal_handler(loop, SIGUSR1, [&] { std::printf("usr1 %d\n", ++usr1); });
  aio::add_signal_handler(loop, SIGUSR2, [&] {
    bool removed = aio::remove_signal_handler(loop, SIGUSR1);
    std::printf("usr2: remove_signal_handler(SIGUSR1) -> %s\n", removed ? "true" : "false");
  });
  std::printf("ready\n");
  loop.run_forever();  // until a signal ends the process
  return 1;
}

aio::Coro<void> serve(bool handlers) {
  aio::EventLoop& loop = aio::get_running_loop();
  aio::ServerRef server =
      co_await aio::create_server(loop, [] { return std::make_shared<Echo>(); }, "127.0.0.1", 0);
  aio::Future<void> stop = loop.create_future();
  if (handlers) {
    aio::add_signal_handler(loop, SIGHUP, [] { std::printf("SIGHUP: reloading\n"); });
    aio::add_signal_handler(loop, SIGINT, [stop]() mutable {
      std::printf("SIGINT: stopping\n");
      if (!stop.done()) stop.set_result();
    });
  }
  std::printf("listening on %d\n", server->sockets().front().getsockname().port());
  // Without handlers it serves until Ctrl-C: aio::run then cancels serve_forever(), which
  // closes the server (asyncio's Server.serve_forever).
  if (!handlers) co_await server->serve_forever();
  co_await stop;
  server->close();
  co_await server->wait_closed();
  std::printf("server closed\n");
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string mode = argc > 1 ? argv[1] : "";
  std::string option = argc > 2 ? argv[2] : "";
  if (mode == "count") return count();
  if (mode != "serve") {
    std::fprintf(stderr, "usage: %s count | serve [--catch|--handlers|--ignore-sigint]\n", argv[0]);
    return 2;
  }
  if (option == "--ignore-sigint") signal(SIGINT, SIG_IGN);
  if (option == "--catch") {
    try {
      aio::run(serve(false));
    } catch (const aio::KeyboardInterrupt&) {
      std::printf("KeyboardInterrupt: the server and the loop are closed\n");
    }
    return 0;
  }
  aio::run(serve(option == "--handlers"));
  return 0;
}
