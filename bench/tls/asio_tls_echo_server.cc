// TLS echo server on standalone Asio's ssl::stream (Debian's libasio-dev 1.22 over Debian's
// OpenSSL 3, libssl-dev; never BoringSSL's headers in this target): bench/echo's Asio server
// with a handshake first. One io_context, one thread (concurrency hint 1).
//
//   asio_tls_echo_server --cert server.pem --key server.key [--host 127.0.0.1] [--port N]
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <cstdio>
#include <memory>
#include <utility>

#include "bench/tls/tls_server_args.h"

namespace {

using asio::ip::tcp;
using Stream = asio::ssl::stream<tcp::socket>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, asio::ssl::context& context) : stream_(std::move(socket), context) {}

  void start() {
    auto self = shared_from_this();
    stream_.async_handshake(asio::ssl::stream_base::server, [this, self](std::error_code ec) {
      if (!ec) do_read();
    });
  }

 private:
  void do_read() {
    auto self = shared_from_this();
    stream_.async_read_some(asio::buffer(data_, kReadSize),
                            [this, self](std::error_code ec, std::size_t n) {
                              if (!ec) do_write(n);
                            });
  }

  void do_write(std::size_t n) {
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(data_, n),
                      [this, self](std::error_code ec, std::size_t) {
                        if (!ec) do_read();
                      });
  }

  static constexpr std::size_t kReadSize = 64 * 1024;
  Stream stream_;
  char data_[kReadSize];
};

class Server {
 public:
  Server(asio::io_context& io, const tcp::endpoint& endpoint, asio::ssl::context& context)
      : acceptor_(io, endpoint), context_(context) {
    do_accept();
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

 private:
  void do_accept() {
    acceptor_.async_accept([this](std::error_code ec, tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket), context_)->start();
      }
      do_accept();
    });
  }

  tcp::acceptor acceptor_;
  asio::ssl::context& context_;
};

}  // namespace

int main(int argc, char** argv) {
  tls_bench::TlsServerArgs args = tls_bench::parse_tls_server_args(argc, argv);
  try {
    asio::io_context io(1);
    asio::ssl::context context(asio::ssl::context::tls_server);
    context.use_certificate_chain_file(args.cert);
    context.use_private_key_file(args.key, asio::ssl::context::pem);
    tcp::endpoint endpoint(asio::ip::make_address_v4(args.net.host),
                           static_cast<unsigned short>(args.net.port));
    Server server(io, endpoint, context);
    echo_bench::announce_port(server.port());
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_tls_echo_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
