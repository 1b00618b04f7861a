// Echo server on standalone Asio (Debian's libasio-dev, 1.22), shaped like Asio's own
// async_tcp_echo_server example: one io_context run by one thread (concurrency hint 1, so Asio
// skips its internal locking), a session per connection that async_read_some()s into its buffer
// and async_write()s back all it read before reading again.
//
//   asio_echo_server [--host 127.0.0.1] [--port N]     prints "listening on PORT" first
#include <asio.hpp>
#include <cstdio>
#include <memory>
#include <utility>

#include "bench/echo/server_args.h"

namespace {

using asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}

  void start() { do_read(); }

 private:
  void do_read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(data_, kReadSize),
                            [this, self](std::error_code ec, std::size_t n) {
                              if (!ec) do_write(n);
                            });
  }

  void do_write(std::size_t n) {
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(data_, n),
                      [this, self](std::error_code ec, std::size_t) {
                        if (!ec) do_read();
                      });
  }

  static constexpr std::size_t kReadSize = 64 * 1024;
  tcp::socket socket_;
  char data_[kReadSize];
};

class Server {
 public:
  Server(asio::io_context& io, const tcp::endpoint& endpoint) : acceptor_(io, endpoint) {
    do_accept();
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

 private:
  void do_accept() {
    acceptor_.async_accept([this](std::error_code ec, tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket))->start();
      }
      do_accept();
    });
  }

  tcp::acceptor acceptor_;  // reuse_address is on by default
};

}  // namespace

int main(int argc, char** argv) {
  echo_bench::ServerArgs args = echo_bench::parse_server_args(argc, argv);
  try {
    asio::io_context io(1);
    tcp::endpoint endpoint(asio::ip::make_address_v4(args.host),
                           static_cast<unsigned short>(args.port));
    Server server(io, endpoint);
    echo_bench::announce_port(server.port());
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_echo_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
