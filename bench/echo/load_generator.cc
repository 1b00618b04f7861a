// Load generator for the echo comparison: plain C++ on epoll (not aio, so it cannot hide aio's
// costs), one thread, level-triggered.
//
//   load_generator [--host 127.0.0.1] --port N | --unix PATH
//                  [--connections 1] [--size 64] [--duration 3] [--warmup 1] [--server-pid PID]
//                  [--lines]
//
// Every connection plays ping-pong: it sends one message of --size bytes, waits for the whole
// echo, checks every byte, records the round trip, and sends the next. After --warmup seconds
// the timed window of --duration seconds starts; the server's CPU time (all its threads) is read
// at both ends of the window, so only messages completed inside it count. One line goes to
// stdout:
//
//   size=64 conns=1 msgs=... duration_s=... msgs_per_s=... p50_us=... p99_us=...
//     server_cpu_ns_per_msg=... client_cpu_ns_per_msg=... cpu_source=schedstat
//
// Server CPU comes from /proc/PID/task/*/schedstat (first field: ns on CPU, exact), or from
// utime+stime in /proc/PID/stat (clock ticks) if schedstat is missing; without --server-pid it
// is "na". With --lines every message is one text line (header in hex, a letters-only body,
// "\n" last), for servers that echo line by line (readline). Exit status 1 on a connection error, a
// wrong echoed byte, or no message completed.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/echo/load_util.h"

namespace {

struct Args {
  std::string host = "127.0.0.1";
  int port = -1;
  std::string unix_path;
  int connections = 1;
  size_t size = 64;
  double duration = 3.0;
  double warmup = 1.0;
  int server_pid = 0;
  bool lines = false;  // messages are "\n"-terminated text lines (no other "\n" in them)
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--host 127.0.0.1] --port N | --unix PATH [--connections C] "
               "[--size BYTES] [--duration S] [--warmup S] [--server-pid PID] [--lines]\n",
               argv0);
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  load_util::parse_flags(
      argc, argv,
      {{"--host", [&](const char* v) { a.host = v; }},
       {"--port", [&](const char* v) { a.port = std::atoi(v); }},
       {"--unix", [&](const char* v) { a.unix_path = v; }},
       {"--connections", [&](const char* v) { a.connections = std::atoi(v); }},
       {"--size", [&](const char* v) { a.size = static_cast<size_t>(std::atol(v)); }},
       {"--duration", [&](const char* v) { a.duration = std::atof(v); }},
       {"--warmup", [&](const char* v) { a.warmup = std::atof(v); }},
       {"--server-pid", [&](const char* v) { a.server_pid = std::atoi(v); }},
       {"--lines", [&](const char*) { a.lines = true; }, true}},
      usage);
  if ((a.port < 0) == a.unix_path.empty() || a.connections < 1 || a.size < (a.lines ? 25 : 16) ||
      a.duration <= 0 || a.warmup < 0) {
    usage(argv[0]);
  }
  return a;
}

using load_util::CpuReader;
using load_util::fail;
using load_util::now_ns;

// --- connections -----------------------------------------------------------------------------

int connect_to(const Args& a) {
  int fd;
  if (!a.unix_path.empty()) {
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (a.unix_path.size() >= sizeof addr.sun_path) {
      std::fprintf(stderr, "--unix path too long\n");
      std::exit(2);
    }
    std::memcpy(addr.sun_path, a.unix_path.c_str(), a.unix_path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) fail("connect");
  } else {
    sockaddr_storage ss{};
    socklen_t len;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, a.host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(a.port));
      len = sizeof *v4;
    } else if (inet_pton(AF_INET6, a.host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(a.port));
      len = sizeof *v6;
    } else {
      std::fprintf(stderr, "--host must be a numeric address: %s\n", a.host.c_str());
      std::exit(2);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) fail("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

struct Conn {
  int fd = -1;
  uint32_t id = 0;
  uint64_t seq = 0;
  std::vector<unsigned char> msg;   // the message in flight
  std::vector<unsigned char> echo;  // what has come back of it
  size_t sent = 0;
  size_t received = 0;
  int64_t started_ns = 0;
  bool want_write = false;
};

class Generator {
 public:
  Generator(const Args& args) : args_(args), lines_(args.lines) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) fail("epoll_create1");
    conns_.resize(static_cast<size_t>(args.connections));
    uint32_t seed = 0x9e3779b9u;
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      c.id = static_cast<uint32_t>(i);
      c.fd = connect_to(args);
      c.msg.resize(args.size);
      c.echo.resize(args.size);
      for (unsigned char& b : c.msg) {  // a per-connection pseudo-random body
        seed = seed * 1664525u + 1013904223u;
        b = static_cast<unsigned char>(seed >> 24);
        if (args.lines) b = static_cast<unsigned char>('a' + b % 26);
      }
      if (args.lines) c.msg.back() = '\n';
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = c.id;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) < 0) fail("epoll_ctl");
    }
  }

  ~Generator() {
    for (Conn& c : conns_) close(c.fd);
    close(ep_);
  }

  void run() {
    std::optional<CpuReader> server_cpu;
    if (args_.server_pid > 0) server_cpu.emplace(args_.server_pid);
    for (Conn& c : conns_) start_message(c, now_ns());

    const int64_t t0 = now_ns();
    const int64_t window_start = t0 + static_cast<int64_t>(args_.warmup * 1e9);
    const int64_t window_end = window_start + static_cast<int64_t>(args_.duration * 1e9);
    latencies_ns_.reserve(1 << 20);

    std::vector<epoll_event> events(conns_.size());
    int64_t server_cpu0 = 0, client_cpu0 = 0, started = 0;
    for (;;) {
      int64_t now = now_ns();
      if (!measuring_ && now >= window_start) {
        measuring_ = true;
        started = now;
        if (server_cpu) server_cpu0 = server_cpu->read();
        client_cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
      }
      if (now >= window_end) {
        int64_t server_cpu_ns = server_cpu ? server_cpu->read() - server_cpu0 : 0;
        int64_t client_cpu_ns = now_ns(CLOCK_PROCESS_CPUTIME_ID) - client_cpu0;
        report(now - started, server_cpu ? server_cpu->source() : nullptr, server_cpu_ns,
               client_cpu_ns);
        return;
      }
      int timeout_ms = static_cast<int>(
          std::min<int64_t>(50, ((measuring_ ? window_end : window_start) - now) / 1000000 + 1));
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        Conn& c = conns_[events[i].data.u32];
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
        if (c.want_write && (events[i].events & EPOLLOUT)) write_rest(c);
      }
    }
  }

 private:
  void start_message(Conn& c, int64_t now) {
    ++c.seq;
    if (lines_) {  // the same header as text: 16 + 8 hex digits (the size is at least 25)
      char header[25];
      std::snprintf(header, sizeof header, "%016llx%08x", static_cast<unsigned long long>(c.seq),
                    c.id);
      std::memcpy(c.msg.data(), header, 24);
    } else {
      std::memcpy(c.msg.data(), &c.seq, sizeof c.seq);  // header: sequence number and connection
      std::memcpy(c.msg.data() + 8, &c.id, sizeof c.id);
    }
    c.sent = 0;
    c.received = 0;
    c.started_ns = now;
    write_rest(c);
  }

  void write_rest(Conn& c) {
    while (c.sent < c.msg.size()) {
      ssize_t w = write(c.fd, c.msg.data() + c.sent, c.msg.size() - c.sent);
      if (w > 0) {
        c.sent += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        fail("write");
      }
    }
    bool want = c.sent < c.msg.size();
    if (want != c.want_write) {
      c.want_write = want;
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
      ev.data.u32 = c.id;
      if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) < 0) fail("epoll_ctl(MOD)");
    }
  }

  void on_readable(Conn& c) {
    size_t want = c.msg.size() - c.received;
    ssize_t n = read(c.fd, c.echo.data() + c.received, want);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n < 0) fail("read");
    if (n == 0) {
      std::fprintf(stderr, "connection %u: the server closed it\n", c.id);
      std::exit(1);
    }
    size_t got = static_cast<size_t>(n);
    if (c.received + got > c.sent ||
        std::memcmp(c.echo.data() + c.received, c.msg.data() + c.received, got) != 0) {
      std::fprintf(stderr, "connection %u: message %llu came back wrong (bytes %zu..%zu)\n", c.id,
                   static_cast<unsigned long long>(c.seq), c.received, c.received + got);
      std::exit(1);
    }
    c.received += got;
    if (c.received < c.msg.size()) return;
    int64_t now = now_ns();
    if (measuring_) latencies_ns_.push_back(now - c.started_ns);
    start_message(c, now);
  }

  void report(int64_t window_ns, const char* cpu_source, int64_t server_cpu_ns,
              int64_t client_cpu_ns) {
    size_t msgs = latencies_ns_.size();
    double seconds = static_cast<double>(window_ns) / 1e9;
    double p50 = percentile_us(0.50), p99 = percentile_us(0.99);
    double per_msg = msgs ? 1.0 / static_cast<double>(msgs) : NAN;
    char server[32] = "na";
    if (cpu_source != nullptr) {
      std::snprintf(server, sizeof server, "%.0f", static_cast<double>(server_cpu_ns) * per_msg);
    }
    std::printf(
        "size=%zu conns=%zu msgs=%zu duration_s=%.3f msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f "
        "server_cpu_ns_per_msg=%s client_cpu_ns_per_msg=%.0f cpu_source=%s\n",
        args_.size, conns_.size(), msgs, seconds, static_cast<double>(msgs) / seconds, p50, p99,
        server, static_cast<double>(client_cpu_ns) * per_msg, cpu_source ? cpu_source : "na");
    std::fflush(stdout);
    if (msgs == 0) {
      std::fprintf(stderr, "no message completed in the timed window\n");
      std::exit(1);
    }
  }

  double percentile_us(double q) {
    if (latencies_ns_.empty()) return NAN;
    size_t k = std::min(latencies_ns_.size() - 1,
                        static_cast<size_t>(q * static_cast<double>(latencies_ns_.size())));
    std::nth_element(latencies_ns_.begin(), latencies_ns_.begin() + static_cast<ptrdiff_t>(k),
                     latencies_ns_.end());
    return static_cast<double>(latencies_ns_[k]) / 1000.0;
  }

  const Args& args_;
  const bool lines_;
  int ep_;
  std::vector<Conn> conns_;
  std::vector<int64_t> latencies_ns_;
  bool measuring_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  Generator(args).run();
  return 0;
}
