// The TLS load generator of bench/tls: one thread, epoll, BoringSSL (not aio, so every server
// is measured by the same client). TLS 1.3 only; the server's certificate is not verified (the
// same for every server; verification is client CPU, not server CPU).
//
//   tls_load_generator --port N --mode echo --connections C --size BYTES
//                      [--duration 3] [--warmup 1] [--server-pid PID]
//       C connections, each a ping-pong: send BYTES, read BYTES back (checked), repeat.
//       -> mode=echo size= conns= msgs= msgs_per_s= server_cpu_ns_per_msg=
//   tls_load_generator --port N --mode bulk --bytes N [--server-pid PID]
//       one connection sends N bytes while reading the echo (at most 4 MiB in flight).
//       -> mode=bulk bytes= seconds= mib_per_s= server_cpu_ms_per_gib=
//   tls_load_generator --port N --mode handshake --connections C [--duration] [--warmup] ...
//       C at a time: connect, full TLS 1.3 handshake (no resumption), one byte echoed (so the
//       server has finished its side), close_notify, close; again.
//       -> mode=handshake conns= handshakes= handshakes_per_s= server_cpu_us_per_handshake=
// Server CPU is read from /proc/PID (all threads) over the timed window, as in bench/echo.
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
#include <memory>
#include <string>
#include <vector>

#include "bench/echo/load_util.h"

namespace {

using load_util::fail;
using load_util::now_ns;

struct Args {
  int port = 0;
  std::string mode = "echo";
  size_t connections = 1;
  size_t size = 64;
  size_t bytes = size_t{1} << 30;
  double duration = 3.0;
  double warmup = 1.0;
  int server_pid = 0;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--port")
      a.port = std::atoi(v);
    else if (flag == "--mode")
      a.mode = v;
    else if (flag == "--connections")
      a.connections = std::strtoul(v, nullptr, 10);
    else if (flag == "--size")
      a.size = std::strtoul(v, nullptr, 10);
    else if (flag == "--bytes")
      a.bytes = std::strtoull(v, nullptr, 10);
    else if (flag == "--duration")
      a.duration = std::atof(v);
    else if (flag == "--warmup")
      a.warmup = std::atof(v);
    else if (flag == "--server-pid")
      a.server_pid = std::atoi(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  if (a.port <= 0 || a.connections == 0 || a.size == 0 ||
      (a.mode != "echo" && a.mode != "bulk" && a.mode != "handshake")) {
    std::fprintf(stderr, "usage: see the header of tls_load_generator.cc\n");
    std::exit(2);
  }
  return a;
}

enum class State { kHandshake, kSend, kRecv, kBulk };

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  State state = State::kHandshake;
  size_t sent = 0, received = 0;
  int pending_write = 0;  // length of a write BoringSSL asked to retry
  uint32_t interest = 0;
};

class Generator {
 public:
  explicit Generator(const Args& args) : args_(args) {
    ctx_ = SSL_CTX_new(TLS_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx_, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);  // every handshake is a full one
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) fail("epoll_create1");
    message_.resize(args.mode == "bulk" ? 65536 : args.mode == "handshake" ? 1 : args.size);
    for (size_t i = 0; i < message_.size(); ++i) message_[i] = static_cast<char>('a' + i % 26);
    reply_.resize(std::max<size_t>(message_.size(), 65536));
  }

  void run() {
    load_util::CpuReader cpu(args_.server_pid > 0 ? args_.server_pid : getpid());
    if (args_.mode == "bulk") {
      open_conn(State::kBulk);
      int64_t cpu0 = cpu.read(), t0 = now_ns();
      while (!bulk_done_) poll_once();
      int64_t t1 = now_ns(), cpu1 = cpu.read();
      double seconds = (t1 - t0) / 1e9;
      double gib = static_cast<double>(args_.bytes) / (1 << 30);
      std::printf("mode=bulk bytes=%zu seconds=%.3f mib_per_s=%.1f server_cpu_ms_per_gib=%.1f\n",
                  args_.bytes, seconds, args_.bytes / seconds / (1 << 20),
                  (cpu1 - cpu0) / 1e6 / gib);
      return;
    }
    for (size_t i = 0; i < args_.connections; ++i) open_conn(State::kHandshake);
    const int64_t start = now_ns();
    const int64_t window_start = start + static_cast<int64_t>(args_.warmup * 1e9);
    const int64_t window_end = window_start + static_cast<int64_t>(args_.duration * 1e9);
    while (now_ns() < window_start) poll_once();
    count_ = 0;
    int64_t cpu0 = cpu.read(), t0 = now_ns();
    while (now_ns() < window_end) poll_once();
    int64_t t1 = now_ns(), cpu1 = cpu.read();
    size_t done = count_;
    double seconds = (t1 - t0) / 1e9;
    if (done == 0) {
      std::fprintf(stderr, "no %s completed in the window\n", args_.mode.c_str());
      std::exit(1);
    }
    if (args_.mode == "echo") {
      std::printf(
          "mode=echo size=%zu conns=%zu msgs=%zu msgs_per_s=%.0f server_cpu_ns_per_msg=%.0f\n",
          args_.size, args_.connections, done, done / seconds,
          static_cast<double>(cpu1 - cpu0) / done);
    } else {
      std::printf(
          "mode=handshake conns=%zu handshakes=%zu handshakes_per_s=%.0f "
          "server_cpu_us_per_handshake=%.1f\n",
          args_.connections, done, done / seconds, (cpu1 - cpu0) / 1e3 / done);
    }
  }

 private:
  void open_conn(State after_connect) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(args_.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // A blocking connect (loopback: immediate), then non-blocking I/O.
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    auto* conn = new Conn;
    conn->fd = fd;
    conn->ssl = SSL_new(ctx_);
    SSL_set_fd(conn->ssl, fd);
    SSL_set_connect_state(conn->ssl);
    SSL_set_tlsext_host_name(conn->ssl, "localhost");
    conn->state = after_connect == State::kBulk ? State::kBulk : State::kHandshake;
    conn->interest = EPOLLOUT;
    epoll_event ev{};
    ev.events = conn->interest;
    ev.data.ptr = conn;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl");
    drive(conn);
  }

  void set_interest(Conn* conn, uint32_t interest) {
    if (conn->interest == interest) return;
    conn->interest = interest;
    epoll_event ev{};
    ev.events = interest;
    ev.data.ptr = conn;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, conn->fd, &ev);
  }

  [[noreturn]] void die(Conn* conn, int ret, const char* where) {
    int error = SSL_get_error(conn->ssl, ret);
    std::fprintf(stderr, "%s failed: SSL error %d, errno %d\n", where, error, errno);
    ERR_print_errors_fp(stderr);
    std::exit(1);
  }

  // The wait BoringSSL asked for; false for a real failure.
  bool wait_for(Conn* conn, int ret) {
    int error = SSL_get_error(conn->ssl, ret);
    if (error == SSL_ERROR_WANT_READ) {
      set_interest(conn, EPOLLIN);
      return true;
    }
    if (error == SSL_ERROR_WANT_WRITE) {
      set_interest(conn, EPOLLOUT);
      return true;
    }
    return false;
  }

  void finish_handshake_round(Conn* conn) {
    ++count_;
    SSL_shutdown(conn->ssl);  // our close_notify; no wait for the server's
    epoll_ctl(epoll_, EPOLL_CTL_DEL, conn->fd, nullptr);
    SSL_free(conn->ssl);
    close(conn->fd);
    delete conn;
    open_conn(State::kHandshake);
  }

  void drive(Conn* conn) {
    for (;;) {
      switch (conn->state) {
        case State::kHandshake: {
          int r = SSL_do_handshake(conn->ssl);
          if (r != 1) {
            if (!wait_for(conn, r)) die(conn, r, "handshake");
            return;
          }
          conn->state = State::kSend;
          conn->sent = 0;
          break;
        }
        case State::kSend: {
          int len = conn->pending_write ? conn->pending_write
                                        : static_cast<int>(message_.size() - conn->sent);
          int n = SSL_write(conn->ssl, message_.data() + conn->sent, len);
          if (n <= 0) {
            conn->pending_write = len;
            if (!wait_for(conn, n)) die(conn, n, "write");
            return;
          }
          conn->pending_write = 0;
          conn->sent += static_cast<size_t>(n);
          if (conn->sent == message_.size()) {
            conn->state = State::kRecv;
            conn->received = 0;
          }
          break;
        }
        case State::kRecv: {
          size_t want = message_.size() - conn->received;
          int n =
              SSL_read(conn->ssl, reply_.data(), static_cast<int>(std::min(want, reply_.size())));
          if (n <= 0) {
            if (!wait_for(conn, n)) die(conn, n, "read");
            return;
          }
          if (std::memcmp(reply_.data(), message_.data() + conn->received, n) != 0) {
            std::fprintf(stderr, "echo mismatch\n");
            std::exit(1);
          }
          conn->received += static_cast<size_t>(n);
          if (conn->received == message_.size()) {
            if (args_.mode == "handshake") {
              finish_handshake_round(conn);
              return;
            }
            ++count_;
            conn->state = State::kSend;
            conn->sent = 0;
          }
          break;
        }
        case State::kBulk:
          drive_bulk(conn);
          return;
      }
    }
  }

  // Send while fewer than 4 MiB are in flight, read whatever came back; done when every byte
  // has returned.
  void drive_bulk(Conn* conn) {
    if (SSL_in_init(conn->ssl)) {
      int r = SSL_do_handshake(conn->ssl);
      if (r != 1) {
        if (!wait_for(conn, r)) die(conn, r, "handshake");
        return;
      }
    }
    constexpr size_t kInFlight = 4 << 20;
    bool blocked_write = false;
    for (;;) {
      bool progress = false;
      while (conn->sent < args_.bytes && conn->sent - conn->received < kInFlight) {
        int len = conn->pending_write
                      ? conn->pending_write
                      : static_cast<int>(std::min(message_.size(), args_.bytes - conn->sent));
        int n = SSL_write(conn->ssl, message_.data(), len);
        if (n <= 0) {
          conn->pending_write = len;
          if (SSL_get_error(conn->ssl, n) != SSL_ERROR_WANT_WRITE) die(conn, n, "bulk write");
          blocked_write = true;
          break;
        }
        conn->pending_write = 0;
        conn->sent += static_cast<size_t>(n);
        progress = true;
      }
      for (;;) {
        int n = SSL_read(conn->ssl, reply_.data(), static_cast<int>(reply_.size()));
        if (n <= 0) {
          if (SSL_get_error(conn->ssl, n) != SSL_ERROR_WANT_READ) die(conn, n, "bulk read");
          break;
        }
        conn->received += static_cast<size_t>(n);
        progress = true;
      }
      if (conn->received >= args_.bytes) {
        bulk_done_ = true;
        return;
      }
      if (!progress) break;
      blocked_write = false;
    }
    bool can_send = conn->sent < args_.bytes && conn->sent - conn->received < kInFlight;
    set_interest(conn, EPOLLIN | (can_send && blocked_write ? EPOLLOUT : 0));
  }

  void poll_once() {
    epoll_event events[256];
    int n = epoll_wait(epoll_, events, 256, 100);
    if (n < 0 && errno != EINTR) fail("epoll_wait");
    for (int i = 0; i < n; ++i) drive(static_cast<Conn*>(events[i].data.ptr));
  }

  Args args_;
  SSL_CTX* ctx_;
  int epoll_;
  std::string message_;
  std::vector<char> reply_;
  size_t count_ = 0;
  bool bulk_done_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Args args = parse(argc, argv);
  Generator(args).run();
  return 0;
}
