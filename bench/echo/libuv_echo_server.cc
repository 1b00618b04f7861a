// Echo server on libuv (Debian's libuv1-dev, 1.44), written the way libuv's own samples and
// Node's stream layer do it: uv_read_start with a per-connection read buffer, and on each read
// uv_try_write first; only what the socket did not take is copied into a uv_write request (the
// echo waits for that write before reading more, as the raw epoll server does).
//
//   libuv_echo_server [--host 127.0.0.1] [--port N]     prints "listening on PORT" first
#include <arpa/inet.h>
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/echo/server_args.h"

namespace {

constexpr size_t kReadSize = 64 * 1024;

struct Conn {
  uv_tcp_t tcp;  // first member: a uv_stream_t* / uv_handle_t* is also the Conn*
  char buf[kReadSize];
};

struct WriteReq {
  uv_write_t req;
  Conn* conn;
  char* data;
};

void die(const char* what, int err) {
  std::fprintf(stderr, "%s: %s\n", what, uv_strerror(err));
  std::exit(1);
}

void on_close(uv_handle_t* handle) { delete reinterpret_cast<Conn*>(handle); }

void on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  Conn* c = reinterpret_cast<Conn*>(handle);
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

void on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  Conn* c = w->conn;
  delete[] w->data;
  delete w;
  if (status < 0) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_close);
    }
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Conn* c = reinterpret_cast<Conn*>(stream);
  if (nread < 0) {  // UV_EOF or an error
    uv_close(reinterpret_cast<uv_handle_t*>(stream), on_close);
    return;
  }
  if (nread == 0) return;  // EAGAIN
  uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(nread));
  int written = uv_try_write(stream, &out, 1);
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(stream), on_close);
    return;
  }
  if (written == nread) return;
  // The rest goes through a write request; stop reading until it is done.
  size_t rest = static_cast<size_t>(nread) - static_cast<size_t>(written);
  auto* w = new WriteReq{{}, c, new char[rest]};
  std::memcpy(w->data, buf->base + written, rest);
  uv_buf_t rest_buf = uv_buf_init(w->data, static_cast<unsigned>(rest));
  uv_read_stop(stream);
  int err = uv_write(&w->req, stream, &rest_buf, 1, on_write);
  if (err < 0) {
    delete[] w->data;
    delete w;
    uv_close(reinterpret_cast<uv_handle_t*>(stream), on_close);
  }
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* c = new Conn;
  uv_tcp_init(server->loop, &c->tcp);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_close);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

}  // namespace

int main(int argc, char** argv) {
  echo_bench::ServerArgs args = echo_bench::parse_server_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t* loop = uv_default_loop();

  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  sockaddr_in addr;
  if (int err = uv_ip4_addr(args.host.c_str(), args.port, &addr)) die("uv_ip4_addr", err);
  if (int err = uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0)) {
    die("uv_tcp_bind", err);
  }
  if (int err = uv_listen(reinterpret_cast<uv_stream_t*>(&server), SOMAXCONN, on_connection)) {
    die("uv_listen", err);
  }
  int len = sizeof addr;
  if (int err = uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&addr), &len)) {
    die("uv_tcp_getsockname", err);
  }
  echo_bench::announce_port(ntohs(addr.sin_port));
  return uv_run(loop, UV_RUN_DEFAULT);
}
