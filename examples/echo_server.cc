// An echo server on aio's Protocol API: every byte a client sends comes straight back.
//
//   echo_server [--host 127.0.0.1] [--port 8888]     TCP (--port 0: any free port)
//   echo_server --unix /tmp/echo.sock                  a UNIX stream socket
//
// Prints "listening on PORT" (or "listening on PATH") once it listens, then serves until
// SIGINT or SIGTERM: it then prints "got SIGINT: closing the server" (or SIGTERM), stops
// listening, lets aio::run cancel what is left and close the loop, and exits 0 (asyncio's
// add_signal_handler pattern). It keeps to the contract of bench/echo's load generator
// (bench/echo/README.md).
//
// Backpressure: a client that sends without reading fills the server's write buffer; above
// the transport's high-water mark the protocol is told pause_writing() and stops reading that
// client until resume_writing(), so the kernel's socket buffers, not the server's memory,
// absorb the excess (a 10 MB sender that never reads no longer grows the server by megabytes).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "loop/loop.h"
#include "net/net.h"
#include "signals/signals.h"

namespace {

// The connections being served, so a shutdown can close them (asyncio 3.8's Server does not
// track them for you either).
using Connections = std::set<aio::Transport*>;

class Echo : public aio::Protocol {
 public:
  explicit Echo(std::shared_ptr<Connections> connections) : connections_(std::move(connections)) {}
  void connection_made(aio::Transport& transport) override {
    transport_ = &transport;
    connections_->insert(transport_);
  }
  void connection_lost(std::exception_ptr) override { connections_->erase(transport_); }
  void data_received(std::span<const std::byte> data) override { transport_->write(data); }
  // The client does not read as fast as it writes: stop reading it until its replies drain.
  void pause_writing() override { transport_->pause_reading(); }
  void resume_writing() override { transport_->resume_reading(); }

 private:
  std::shared_ptr<Connections> connections_;
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

// Room for a burst of connections the accept loop has not reached yet (asyncio's default is
// 100; the kernel caps it at net.core.somaxconn).
constexpr int kBacklog = 4096;

aio::Coro<void> serve(const Args& args) {
  aio::EventLoop& loop = aio::get_running_loop();
  auto connections = std::make_shared<Connections>();
  auto factory = [connections] { return std::make_shared<Echo>(connections); };
  aio::ServerRef server;
  if (args.unix_path) {
    server = co_await aio::create_unix_server(loop, factory, args.unix_path, {}, kBacklog);
  } else {
    aio::ServerOptions options;
    options.hosts = {args.host};
    options.port = std::to_string(args.port);
    options.backlog = kBacklog;
    server = co_await aio::create_server(loop, factory, std::move(options));
  }
  aio::SocketAddress address = server->sockets().front().getsockname();
  if (args.unix_path) {
    std::printf("listening on %s\n", address.path().c_str());
  } else {
    std::printf("listening on %d\n", address.port());
  }
  std::fflush(stdout);
  // SIGINT and SIGTERM end serve_forever(): close() stops listening and wakes it. The handlers
  // go at once, so a second Ctrl-C during the shutdown is a KeyboardInterrupt that ends the
  // process (and a second SIGTERM its default action).
  for (int sig : {SIGINT, SIGTERM}) {
    aio::add_signal_handler(loop, sig, [&loop, sig, server] {
      std::printf("got %s: closing the server\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      std::fflush(stdout);
      aio::remove_signal_handler(loop, SIGINT);
      aio::remove_signal_handler(loop, SIGTERM);
      server->close();
    });
  }
  try {
    co_await server->serve_forever();
  } catch (const aio::CancelledError&) {
    // close() cancels serve_forever(): the way out, not an error.
  }
  // Each connection flushes what it has queued, then closes; a client that stopped reading
  // gets 2 s before its connection is aborted.
  for (aio::Transport* transport : Connections(*connections)) transport->close();
  bool timed_out = false;
  try {
    co_await aio::wait_for(server->wait_closed(), 2.0);
  } catch (const aio::TimeoutError&) {
    timed_out = true;
  }
  if (timed_out) {
    for (aio::Transport* transport : Connections(*connections)) transport->abort();
    co_await server->wait_closed();
  }
  std::printf("closed\n");
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  aio::run(serve(args));
  return 0;
}
