// Load generator for the UDP echo comparison: plain C++ on epoll (not aio, so it cannot hide
// aio's costs), one thread, level-triggered.
//
//   udp_load_generator [--host 127.0.0.1] --port N [--clients 1] [--size 64] [--duration 3]
//                      [--warmup 1] [--server-pid PID] [--timeout-ms 200]
//
// Each client is its own UDP socket, connected to the server, playing ping-pong: it sends one
// datagram of --size bytes, waits for the echo, checks its length and every byte, records the
// round trip, and sends the next. A datagram not echoed within --timeout-ms counts as lost and
// the client sends a new one (a late echo of a lost datagram is recognised by its sequence
// number and ignored). After --warmup seconds the timed window of --duration seconds starts; the
// server's CPU time (all its threads) is read at both ends of the window, so only datagrams
// echoed inside it count. One line goes to stdout:
//
//   size=64 clients=1 dgrams=... duration_s=... dgrams_per_s=... p50_us=... p99_us=...
//     server_cpu_ns_per_dgram=... client_cpu_ns_per_dgram=... lost=0 cpu_source=schedstat
//
// Server CPU comes from /proc/PID/task/*/schedstat (first field: ns on CPU, exact), or from
// utime+stime in /proc/PID/stat (clock ticks) if schedstat is missing; without --server-pid it
// is "na". Exit status 1 on a socket error, a wrong echo, or no datagram echoed in the window.
// (The CPU helpers are bench/echo/load_generator.cc's.)
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
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

constexpr size_t kMaxDatagram = 65507;  // the largest UDP payload over IPv4

struct Args {
  std::string host = "127.0.0.1";
  int port = -1;
  int clients = 1;
  size_t size = 64;
  double duration = 3.0;
  double warmup = 1.0;
  int server_pid = 0;
  int timeout_ms = 200;
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--host 127.0.0.1] --port N [--clients C] [--size BYTES (16..%zu)] "
               "[--duration S] [--warmup S] [--server-pid PID] [--timeout-ms MS]\n",
               argv0, kMaxDatagram);
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  load_util::parse_flags(
      argc, argv,
      {{"--host", [&](const char* v) { a.host = v; }},
       {"--port", [&](const char* v) { a.port = std::atoi(v); }},
       {"--clients", [&](const char* v) { a.clients = std::atoi(v); }},
       {"--size", [&](const char* v) { a.size = static_cast<size_t>(std::atol(v)); }},
       {"--duration", [&](const char* v) { a.duration = std::atof(v); }},
       {"--warmup", [&](const char* v) { a.warmup = std::atof(v); }},
       {"--server-pid", [&](const char* v) { a.server_pid = std::atoi(v); }},
       {"--timeout-ms", [&](const char* v) { a.timeout_ms = std::atoi(v); }}},
      usage);
  if (a.port <= 0 || a.port > 65535 || a.clients < 1 || a.size < 16 || a.size > kMaxDatagram ||
      a.duration <= 0 || a.warmup < 0 || a.timeout_ms < 1) {
    usage(argv[0]);
  }
  return a;
}

using load_util::CpuReader;
using load_util::fail;
using load_util::now_ns;

// --- clients ---------------------------------------------------------------------------------

int connect_to(const Args& a) {
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
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  // Connected: send() goes to the server and only the server's datagrams are received.
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) fail("connect");
  return fd;
}

struct Client {
  int fd = -1;
  uint32_t id = 0;
  uint64_t seq = 0;
  std::vector<unsigned char> msg;   // the datagram in flight
  std::vector<unsigned char> echo;  // one byte more than msg: a longer echo is caught
  int64_t started_ns = 0;
};

class Generator {
 public:
  explicit Generator(const Args& args) : args_(args) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) fail("epoll_create1");
    clients_.resize(static_cast<size_t>(args.clients));
    uint32_t seed = 0x9e3779b9u;
    for (size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      c.id = static_cast<uint32_t>(i);
      c.fd = connect_to(args);
      c.msg.resize(args.size);
      c.echo.resize(args.size + 1);
      for (unsigned char& b : c.msg) {  // a per-client pseudo-random body
        seed = seed * 1664525u + 1013904223u;
        b = static_cast<unsigned char>(seed >> 24);
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = c.id;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) < 0) fail("epoll_ctl");
    }
  }

  ~Generator() {
    for (Client& c : clients_) close(c.fd);
    close(ep_);
  }

  void run() {
    std::optional<CpuReader> server_cpu;
    if (args_.server_pid > 0) server_cpu.emplace(args_.server_pid);
    for (Client& c : clients_) send_next(c, now_ns());

    const int64_t t0 = now_ns();
    const int64_t window_start = t0 + static_cast<int64_t>(args_.warmup * 1e9);
    const int64_t window_end = window_start + static_cast<int64_t>(args_.duration * 1e9);
    const int64_t timeout_ns = int64_t{args_.timeout_ms} * 1000000;
    latencies_ns_.reserve(1 << 20);

    std::vector<epoll_event> events(clients_.size());
    int64_t server_cpu0 = 0, client_cpu0 = 0, started = 0, last_scan = t0;
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
      if (now - last_scan >= 10000000) {  // every 10 ms: datagrams that never came back
        last_scan = now;
        for (Client& c : clients_) {
          if (now - c.started_ns < timeout_ns) continue;
          if (measuring_) ++lost_;
          send_next(c, now);
        }
      }
      int timeout_ms = static_cast<int>(
          std::min<int64_t>(10, ((measuring_ ? window_end : window_start) - now) / 1000000 + 1));
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("epoll_wait");
      }
      for (int i = 0; i < n; ++i) on_readable(clients_[events[i].data.u32]);
    }
  }

 private:
  void send_next(Client& c, int64_t now) {
    ++c.seq;
    std::memcpy(c.msg.data(), &c.seq, sizeof c.seq);  // header: sequence number and client
    std::memcpy(c.msg.data() + 8, &c.id, sizeof c.id);
    c.started_ns = now;
    for (;;) {
      ssize_t w = send(c.fd, c.msg.data(), c.msg.size(), 0);
      if (w == static_cast<ssize_t>(c.msg.size())) return;
      if (w < 0 && errno == EINTR) continue;
      // EAGAIN (the socket buffer is full) or ECONNREFUSED (an ICMP error for an earlier
      // datagram): this one is lost; the timeout scan sends the next.
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED)) return;
      fail("send");
    }
  }

  void on_readable(Client& c) {
    for (;;) {
      ssize_t n = recv(c.fd, c.echo.data(), c.echo.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        if (errno == ECONNREFUSED) {
          std::fprintf(stderr, "client %u: connection refused (no server on port %d?)\n", c.id,
                       args_.port);
          std::exit(1);
        }
        fail("recv");
      }
      uint64_t seq = 0;
      uint32_t id = 0;
      if (static_cast<size_t>(n) >= 12) {
        std::memcpy(&seq, c.echo.data(), sizeof seq);
        std::memcpy(&id, c.echo.data() + 8, sizeof id);
      }
      if (static_cast<size_t>(n) == c.msg.size() && id == c.id && seq < c.seq) {
        continue;  // the late echo of a datagram already counted lost
      }
      if (static_cast<size_t>(n) != c.msg.size() ||
          std::memcmp(c.echo.data(), c.msg.data(), c.msg.size()) != 0) {
        std::fprintf(stderr,
                     "client %u: datagram %llu came back wrong (%zd bytes, expected %zu; header "
                     "seq %llu client %u)\n",
                     c.id, static_cast<unsigned long long>(c.seq), n, c.msg.size(),
                     static_cast<unsigned long long>(seq), id);
        std::exit(1);
      }
      int64_t now = now_ns();
      if (measuring_) latencies_ns_.push_back(now - c.started_ns);
      send_next(c, now);
    }
  }

  void report(int64_t window_ns, const char* cpu_source, int64_t server_cpu_ns,
              int64_t client_cpu_ns) {
    size_t dgrams = latencies_ns_.size();
    double seconds = static_cast<double>(window_ns) / 1e9;
    double p50 = percentile_us(0.50), p99 = percentile_us(0.99);
    double per_dgram = dgrams ? 1.0 / static_cast<double>(dgrams) : NAN;
    char server[32] = "na";
    if (cpu_source != nullptr) {
      std::snprintf(server, sizeof server, "%.0f", static_cast<double>(server_cpu_ns) * per_dgram);
    }
    std::printf(
        "size=%zu clients=%zu dgrams=%zu duration_s=%.3f dgrams_per_s=%.0f p50_us=%.1f "
        "p99_us=%.1f server_cpu_ns_per_dgram=%s client_cpu_ns_per_dgram=%.0f lost=%llu "
        "cpu_source=%s\n",
        args_.size, clients_.size(), dgrams, seconds, static_cast<double>(dgrams) / seconds, p50,
        p99, server, static_cast<double>(client_cpu_ns) * per_dgram,
        static_cast<unsigned long long>(lost_), cpu_source ? cpu_source : "na");
    std::fflush(stdout);
    if (dgrams == 0) {
      std::fprintf(stderr, "no datagram echoed in the timed window\n");
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
  int ep_;
  std::vector<Client> clients_;
  std::vector<int64_t> latencies_ns_;
  uint64_t lost_ = 0;
  bool measuring_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  Generator(args).run();
  return 0;
}
