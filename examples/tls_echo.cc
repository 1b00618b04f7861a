// A TLS echo server and client on aio (the README's TLS example, whole).
//
//   tls_echo server --cert server.pem --key server.key [--cafile ca.pem] [--host 127.0.0.1]
//                   [--port 8443]       (--port 0: any free port; --cafile: require client certs)
//   tls_echo client --cafile ca.pem [--cert client.pem --key client.key] [--host localhost]
//                   [--port 8443] [--message TEXT]
//
// The server prints "listening on PORT" once it listens and serves until killed. The client
// verifies the server's certificate against --cafile (and its name against --host), sends the
// message, prints what comes back, and closes with a TLS close_notify.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "loop/loop.h"
#include "net/net.h"
#include "tls/tls.h"

namespace {

class Echo : public aio::Protocol {
 public:
  void connection_made(aio::Transport& transport) override { transport_ = &transport; }
  void data_received(std::span<const std::byte> data) override { transport_->write(data); }

 private:
  aio::Transport* transport_ = nullptr;  // valid until connection_lost
};

// Collects the echo; `done` is set once `expected` bytes came back.
class Client : public aio::Protocol {
 public:
  Client(aio::EventLoop& loop, std::size_t expected)
      : expected_(expected), done(loop.create_future()) {}
  void data_received(std::span<const std::byte> data) override {
    received.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (received.size() >= expected_ && !done.done()) done.set_result();
  }
  void connection_lost(std::exception_ptr error) override {
    if (!done.done()) {
      done.set_exception(error ? error : std::make_exception_ptr(aio::ConnectionResetError(0)));
    }
  }
  std::string received;

 private:
  std::size_t expected_;

 public:
  aio::Future<void> done;
};

aio::Coro<void> serve(std::map<std::string, std::string> args) {
  aio::EventLoop& loop = aio::get_running_loop();
  auto context = aio::tls::create_default_context(aio::tls::Purpose::CLIENT_AUTH);
  context->load_cert_chain(args["--cert"], args["--key"]);
  if (args.count("--cafile")) {  // mutual TLS
    context->load_verify_locations(args["--cafile"]);
    context->set_verify_mode(aio::tls::VerifyMode::CERT_REQUIRED);
  }
  aio::ServerOptions options;
  options.hosts = {args.count("--host") ? args["--host"] : "127.0.0.1"};
  options.port = args.count("--port") ? args["--port"] : "8443";
  options.ssl = context;
  aio::ServerRef server = co_await aio::create_server(
      loop, [] { return std::make_shared<Echo>(); }, std::move(options));
  std::printf("listening on %d\n", server->sockets().front().getsockname().port());
  std::fflush(stdout);
  co_await server->serve_forever();
}

aio::Coro<void> talk(std::map<std::string, std::string> args) {
  aio::EventLoop& loop = aio::get_running_loop();
  auto context = aio::tls::create_default_context(aio::tls::Purpose::SERVER_AUTH, args["--cafile"]);
  if (args.count("--cert")) context->load_cert_chain(args["--cert"], args["--key"]);
  std::string message = args.count("--message") ? args["--message"] : "hello, TLS";
  aio::ConnectionOptions options;
  options.host = args.count("--host") ? args["--host"] : "localhost";
  options.port = args.count("--port") ? args["--port"] : "8443";
  options.ssl = context;  // server_hostname defaults to host
  auto client = std::make_shared<Client>(loop, message.size());
  auto [transport, protocol] =
      co_await aio::create_connection(loop, [client] { return client; }, std::move(options));
  transport->write(message);
  co_await aio::wait_for(client->done, 10);
  auto cipher = std::any_cast<aio::tls::Cipher>(transport->get_extra_info("cipher"));
  std::printf("%s (%s)\n", client->received.c_str(), cipher.protocol.c_str());
  transport->close();  // sends close_notify
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 2; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  std::string mode = argc > 1 ? argv[1] : "";
  bool ok = (mode == "server" && args.count("--cert") && args.count("--key")) ||
            (mode == "client" && args.count("--cafile"));
  if (!ok || argc % 2 != 0) {
    std::fprintf(stderr,
                 "usage: %s server --cert FILE --key FILE [--cafile FILE] [--host H] [--port N]\n"
                 "       %s client --cafile FILE [--cert FILE --key FILE] [--host H] [--port N]"
                 " [--message TEXT]\n",
                 argv[0], argv[0]);
    return 2;
  }
  try {
    aio::run(mode == "server" ? serve(args) : talk(args));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "tls_echo: %s\n", error.what());
    return 1;
  }
  return 0;
}
