// The practical limit for a TLS echo server on one thread: epoll (level-triggered) and
// BoringSSL reading and writing the socket itself (SSL_set_fd), no event-loop library, no
// buffering beyond one pending block per connection.
//
//   raw_tls_echo_server --cert server.pem --key server.key [--host 127.0.0.1] [--port 0]
//
// Prints "listening on PORT" (bench/echo's server contract) and serves until killed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/tls/tls_server_args.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::perror(what);
  std::exit(1);
}

struct Conn {
  int fd;
  SSL* ssl;
  std::string out;  // plaintext read but not yet accepted by SSL_write
  bool want_write = false;
};

class Server {
 public:
  Server(SSL_CTX* ctx, int listener) : ctx_(ctx), listener_(listener) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) fail("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the listener
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev) != 0) fail("epoll_ctl");
  }

  [[noreturn]] void run() {
    std::vector<epoll_event> events(256);
    for (;;) {
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        auto* conn = static_cast<Conn*>(events[i].data.ptr);
        if (conn == nullptr) {
          accept_all();
        } else {
          drive(conn);
        }
      }
    }
  }

 private:
  void accept_all() {
    for (;;) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN (or a connection that went away)
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* conn = new Conn{fd, SSL_new(ctx_), {}, false};
      SSL_set_fd(conn->ssl, fd);
      SSL_set_accept_state(conn->ssl);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = conn;
      if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl");
    }
  }

  void set_want_write(Conn* conn, bool on) {
    if (conn->want_write == on) return;
    conn->want_write = on;
    epoll_event ev{};
    ev.events = on ? EPOLLOUT : EPOLLIN;
    ev.data.ptr = conn;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, conn->fd, &ev);
  }

  void close_conn(Conn* conn) {
    epoll_ctl(epoll_, EPOLL_CTL_DEL, conn->fd, nullptr);
    SSL_free(conn->ssl);
    close(conn->fd);
    delete conn;
    ERR_clear_error();
  }

  // Write what is pending; once all of it is out, read (and echo) until BoringSSL wants more
  // bytes from the socket. A blocked write waits for EPOLLOUT and stops reading meanwhile.
  void drive(Conn* conn) {
    char buffer[16384];
    for (;;) {
      while (!conn->out.empty()) {
        int n = SSL_write(conn->ssl, conn->out.data(), static_cast<int>(conn->out.size()));
        if (n > 0) {
          conn->out.erase(0, static_cast<size_t>(n));
          continue;
        }
        int error = SSL_get_error(conn->ssl, n);
        if (error == SSL_ERROR_WANT_WRITE) {
          set_want_write(conn, true);
          return;
        }
        close_conn(conn);
        return;
      }
      set_want_write(conn, false);
      int n = SSL_read(conn->ssl, buffer, sizeof buffer);
      if (n > 0) {
        conn->out.assign(buffer, static_cast<size_t>(n));
        continue;
      }
      int error = SSL_get_error(conn->ssl, n);
      if (error == SSL_ERROR_WANT_READ) return;
      if (error == SSL_ERROR_WANT_WRITE) {  // a handshake flight that did not fit
        set_want_write(conn, true);
        return;
      }
      close_conn(conn);  // close_notify, EOF, or an error
      return;
    }
  }

  SSL_CTX* ctx_;
  int listener_;
  int epoll_;
};

}  // namespace

int main(int argc, char** argv) {
  tls_bench::TlsServerArgs parsed = tls_bench::parse_tls_server_args(argc, argv);
  const echo_bench::ServerArgs& args = parsed.net;
  const std::string& cert = parsed.cert;
  const std::string& key = parsed.key;
  std::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) fail("socket");
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(args.port));
  if (inet_pton(AF_INET, args.host.c_str(), &addr.sin_addr) != 1) fail("inet_pton");
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
  if (listen(listener, 1024) != 0) fail("listen");
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  echo_bench::announce_port(ntohs(addr.sin_port));
  Server(ctx, listener).run();
}
