// sendfile benchmark (issue 7): one file (100 MiB by default, made in /tmp and deleted at the
// end) sent over a loopback TCP connection to a plain reader process that counts and discards
// the bytes, four ways:
//
//   aio native     aio::sock_sendfile (fallback allowed, native sendfile(2) on)
//   aio fallback   the same after aio::internal::set_native_sendfile_enabled(false): read()s of
//                  256 KiB on the loop's default executor, each sent with sock_sendall
//   cat | nc       sh -c 'cat FILE | nc -N 127.0.0.1 PORT' (netcat-openbsd), what a shell user
//                  would do (the table says "piped to": a literal | would split its row)
//   sendfile(2)    reference: a blocking sendfile(2) loop on a blocking socket, no event loop
//
// Each transfer is timed from just before the connection is made (for cat | nc: before the shell
// is spawned) to the moment the reader has the last byte (CLOCK_MONOTONIC, read by the reader).
// CPU time: the sender's (this process, all threads, for aio: the loop and the executor threads;
// for cat | nc: sh, cat and nc, via RUSAGE_CHILDREN) and the reader's, both user + system from
// getrusage. Rounds interleave the methods; the table shows the best round of each column
// (most MiB/s, least CPU: interference only ever adds cost).
//
//   sendfile_bench [--mib 100] [--rounds 3] [--dir /tmp] [--nc nc | --nc none]
//                  [--only native,fallback,nc,raw]      (a subset, in the order given)
//                  [--pin 0|1]   1: the sender and its children on CPU 0, the reader on CPU 1
//
// Exit status 1 if a transfer fails or the reader did not get every byte.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "loop/loop.h"
#include "net/net.h"

extern char** environ;

namespace {

struct Args {
  int mib = 100;
  int rounds = 3;
  std::string dir;
  std::string nc = "nc";
  std::string only = "native,fallback,nc,raw";  // which methods, in this order
  bool pin = false;  // the sender (and its children) on CPU 0, the reader on CPU 1
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--mib N] [--rounds N] [--dir DIR] [--nc PROGRAM | --nc none]\n",
               argv0);
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  const char* tmp = std::getenv("TEST_TMPDIR");
  a.dir = tmp != nullptr ? tmp : "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) usage(argv[0]);
    const char* v = argv[++i];
    if (flag == "--mib") {
      a.mib = std::atoi(v);
    } else if (flag == "--rounds") {
      a.rounds = std::atoi(v);
    } else if (flag == "--dir") {
      a.dir = v;
    } else if (flag == "--nc") {
      a.nc = v;
    } else if (flag == "--only") {
      a.only = v;
    } else if (flag == "--pin") {
      a.pin = std::atoi(v) != 0;
    } else {
      usage(argv[0]);
    }
  }
  if (a.mib < 1 || a.rounds < 1) usage(argv[0]);
  return a;
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t tv_ns(const timeval& tv) { return int64_t{tv.tv_sec} * 1000000000 + tv.tv_usec * 1000; }

int64_t cpu_ns(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
}

// --- the file ------------------------------------------------------------------------------------

std::string g_path;  // unlinked at exit and on SIGINT/SIGTERM

void remove_file() {
  if (!g_path.empty()) ::unlink(g_path.c_str());
}

void on_signal(int sig) {
  if (!g_path.empty()) ::unlink(g_path.c_str());
  signal(sig, SIG_DFL);
  raise(sig);
}

std::string make_file(const std::string& dir, int mib) {
  std::string path = dir + "/aio_sendfile_bench.XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) die("mkstemp");
  g_path = path;
  std::atexit(remove_file);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  std::vector<uint64_t> block(1 << 17);  // 1 MiB of pseudo-random words
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int m = 0; m < mib; ++m) {
    for (uint64_t& w : block) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w = x;
    }
    const char* p = reinterpret_cast<const char*>(block.data());
    size_t left = block.size() * sizeof(uint64_t);
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die("write");
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  ::close(fd);
  return path;
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

// --- the reader process --------------------------------------------------------------------------

struct ReaderResult {
  int64_t bytes;
  int64_t last_byte_ns;  // CLOCK_MONOTONIC when the last byte arrived
  int64_t cpu_ns;        // the reader's user + system time for this connection
};

// Accepts one connection at a time, reads it to EOF into a 256 KiB buffer (discarding), closes
// it and reports a ReaderResult on `report_fd`. Runs until the listener is shut down.
[[noreturn]] void reader_main(int listener, int report_fd) {
  std::vector<char> buffer(256 * 1024);
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      _exit(0);  // the listener was shut down: done
    }
    int64_t cpu0 = cpu_ns(RUSAGE_SELF);
    ReaderResult r{0, now_ns(), 0};
    for (;;) {
      ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      r.bytes += n;
      r.last_byte_ns = now_ns();
    }
    ::close(fd);
    r.cpu_ns = cpu_ns(RUSAGE_SELF) - cpu0;
    if (::write(report_fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) _exit(1);
  }
}

struct Reader {
  int listener = -1;
  int port = 0;
  int report_fd = -1;
  pid_t pid = -1;

  // Forks before any thread exists (aio's executor threads start on first use).
  void start(bool pin) {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) die("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
    if (::listen(listener, 16) < 0) die("listen");
    socklen_t len = sizeof addr;
    if (::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
      die("getsockname");
    }
    port = ntohs(addr.sin_port);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) die("pipe2");
    pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      if (pin) pin_to_cpu(1);
      ::close(fds[0]);
      signal(SIGINT, SIG_DFL);  // the parent removes the file
      signal(SIGTERM, SIG_DFL);
      reader_main(listener, fds[1]);
    }
    if (pin) pin_to_cpu(0);
    ::close(fds[1]);
    report_fd = fds[0];
  }

  ReaderResult wait_result() {
    ReaderResult r{};
    char* p = reinterpret_cast<char*>(&r);
    size_t got = 0;
    while (got < sizeof r) {
      ssize_t n = ::read(report_fd, p + got, sizeof r - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::fprintf(stderr, "the reader process died\n");
        std::exit(1);
      }
      got += static_cast<size_t>(n);
    }
    return r;
  }

  void stop() {
    ::shutdown(listener, SHUT_RDWR);  // the reader's accept() fails: it exits
    ::close(listener);
    ::close(report_fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
};

// --- the senders ---------------------------------------------------------------------------------

struct Sample {
  double mib_per_s;
  double wall_ms;
  double sender_cpu_ms;
  double reader_cpu_ms;
};

aio::Coro<std::size_t> aio_send(aio::EventLoop& loop, const std::string& path, int port) {
  aio::Socket sock = aio::Socket::create(AF_INET, SOCK_STREAM);
  co_await aio::sock_connect(
      loop, sock, aio::SocketAddress::ipv4("127.0.0.1", static_cast<std::uint16_t>(port)));
  aio::File file = aio::File::open(path, O_RDONLY);
  std::size_t sent = co_await aio::sock_sendfile(loop, sock, file);
  sock.close();  // EOF for the reader
  co_return sent;
}

// sendfile(2) on a blocking socket until the whole file is sent: the kernel's floor.
std::size_t raw_send(const std::string& path, int port, int64_t size) {
  int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("connect");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open");
  off_t offset = 0;
  while (offset < size) {
    ssize_t n = ::sendfile(sock, fd, &offset, static_cast<size_t>(size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("sendfile");
  }
  ::close(fd);
  ::close(sock);
  return static_cast<std::size_t>(offset);
}

// sh -c 'cat FILE | nc -N 127.0.0.1 PORT'; true if it exited 0.
bool nc_send(const std::string& nc, const std::string& path, int port) {
  std::string command =
      "cat '" + path + "' | " + nc + " -N 127.0.0.1 " + std::to_string(port) + " >/dev/null";
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  pid_t pid;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    die("posix_spawn");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

enum class Method { kAioNative, kAioFallback, kCatNc, kRawSendfile };

const char* name_of(Method m) {
  switch (m) {
    case Method::kAioNative:
      return "aio native (`sock_sendfile`, sendfile(2))";
    case Method::kAioFallback:
      return "aio fallback (`sock_sendfile`, read + send)";
    case Method::kCatNc:
      return "`cat file`, piped to `nc -N`";
    case Method::kRawSendfile:
      return "reference: blocking sendfile(2) loop";
  }
  return "?";
}

Sample run_one(Method method, aio::EventLoop& loop, Reader& reader, const std::string& path,
               int64_t size, const std::string& nc) {
  int who = method == Method::kCatNc ? RUSAGE_CHILDREN : RUSAGE_SELF;
  int64_t cpu0 = cpu_ns(who);
  int64_t t0 = now_ns();
  std::size_t sent = static_cast<std::size_t>(size);
  switch (method) {
    case Method::kAioNative:
    case Method::kAioFallback:
      aio::internal::set_native_sendfile_enabled(method == Method::kAioNative);
      sent = loop.run_until_complete(aio_send(loop, path, reader.port));
      aio::internal::set_native_sendfile_enabled(true);
      break;
    case Method::kCatNc:
      if (!nc_send(nc, path, reader.port)) {
        std::fprintf(stderr, "cat | %s failed\n", nc.c_str());
        std::exit(1);
      }
      break;
    case Method::kRawSendfile:
      sent = raw_send(path, reader.port, size);
      break;
  }
  int64_t sender_cpu = cpu_ns(who) - cpu0;
  ReaderResult r = reader.wait_result();
  if (r.bytes != size || sent != static_cast<std::size_t>(size)) {
    std::fprintf(stderr, "%s: sent %zu, the reader got %lld of %lld bytes\n", name_of(method), sent,
                 static_cast<long long>(r.bytes), static_cast<long long>(size));
    std::exit(1);
  }
  double seconds = static_cast<double>(r.last_byte_ns - t0) / 1e9;
  return Sample{static_cast<double>(size) / (1024.0 * 1024.0) / seconds, seconds * 1e3,
                static_cast<double>(sender_cpu) / 1e6, static_cast<double>(r.cpu_ns) / 1e6};
}

bool have_program(const std::string& program) {
  std::string command = "command -v " + program + " >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  std::string path = make_file(args.dir, args.mib);
  const int64_t size = int64_t{args.mib} * 1024 * 1024;

  std::vector<Method> methods;
  std::string only = args.only + ",";
  for (size_t start = 0, comma; (comma = only.find(',', start)) != std::string::npos;
       start = comma + 1) {
    std::string name = only.substr(start, comma - start);
    if (name == "native") {
      methods.push_back(Method::kAioNative);
    } else if (name == "fallback") {
      methods.push_back(Method::kAioFallback);
    } else if (name == "raw") {
      methods.push_back(Method::kRawSendfile);
    } else if (name == "nc") {
      if (args.nc == "none") continue;
      if (have_program(args.nc)) {
        methods.push_back(Method::kCatNc);
      } else {
        std::fprintf(stderr, "note: '%s' not found; the cat | nc row is left out\n",
                     args.nc.c_str());
      }
    } else {
      usage(argv[0]);
    }
  }
  if (methods.empty()) usage(argv[0]);

  Reader reader;
  reader.start(args.pin);  // before the loop: no thread exists yet

  std::vector<std::vector<Sample>> samples(methods.size());
  {
    aio::EventLoop loop;
    for (int round = 1; round <= args.rounds; ++round) {
      for (size_t i = 0; i < methods.size(); ++i) {
        Sample s = run_one(methods[i], loop, reader, path, size, args.nc);
        std::fprintf(
            stderr, "round %d: %s: %.0f MiB/s, %.1f ms, sender CPU %.1f ms, reader CPU %.1f ms\n",
            round, name_of(methods[i]), s.mib_per_s, s.wall_ms, s.sender_cpu_ms, s.reader_cpu_ms);
        samples[i].push_back(s);
      }
    }
    loop.run_until_complete(loop.shutdown_default_executor());
    loop.close();
  }
  reader.stop();

  char load[64] = "?";
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fgets(load, sizeof load, f) == nullptr) std::strcpy(load, "?");
    std::fclose(f);
    // The first three fields: the 1, 5 and 15 minute averages.
    char* end = load;
    for (int spaces = 0; *end != '\0' && *end != '\n'; ++end) {
      if (*end == ' ' && ++spaces == 3) break;
    }
    *end = '\0';
  }
  std::printf(
      "\nsendfile of a %d MiB file over loopback TCP to a reader process; best of %d rounds "
      "per column; %ld CPUs, %s; load average %s at the end.\n\n",
      args.mib, args.rounds, sysconf(_SC_NPROCESSORS_ONLN),
      args.pin ? "sender on CPU 0, reader on CPU 1" : "not pinned", load);
  std::printf(
      "| method | MiB/s | wall ms | sender CPU ms | sender CPU ms/MiB | reader CPU ms |\n"
      "|---|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < methods.size(); ++i) {
    const std::vector<Sample>& v = samples[i];
    auto best = [&](auto member, bool higher) {
      double b = v.front().*member;
      for (const Sample& s : v) b = higher ? std::max(b, s.*member) : std::min(b, s.*member);
      return b;
    };
    double sender = best(&Sample::sender_cpu_ms, false);
    std::printf("| %s | %.0f | %.1f | %.1f | %.3f | %.1f |\n", name_of(methods[i]),
                best(&Sample::mib_per_s, true), best(&Sample::wall_ms, false), sender,
                sender / args.mib, best(&Sample::reader_cpu_ms, false));
  }
  return 0;
}
