// What the plain-epoll load generators of bench/echo and bench/udp share: exiting on a failed
// system call, a nanosecond clock, and the server's CPU time read from /proc.
#ifndef AIO_BENCH_ECHO_LOAD_UTIL_H_
#define AIO_BENCH_ECHO_LOAD_UTIL_H_

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace load_util {

// One command-line flag: "--name VALUE" hands VALUE to `set`; a switch ("--name" alone) calls
// `set` with nullptr.
struct Flag {
  std::string_view name;
  std::function<void(const char* value)> set;
  bool is_switch = false;
};

// Parses argv against `flags`; an unknown flag or a missing value calls `usage` (which exits).
inline void parse_flags(int argc, char** argv, std::initializer_list<Flag> flags,
                        void (*usage)(const char* argv0)) {
  for (int i = 1; i < argc; ++i) {
    const Flag* match = nullptr;
    for (const Flag& flag : flags) {
      if (flag.name == argv[i]) match = &flag;
    }
    if (match == nullptr) usage(argv[0]);
    if (match->is_switch) {
      match->set(nullptr);
    } else {
      if (i + 1 >= argc) usage(argv[0]);
      match->set(argv[++i]);
    }
  }
}

[[noreturn]] inline void fail(const char* what) {
  std::perror(what);
  std::exit(1);
}

inline int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Sum of the first field of /proc/PID/task/*/schedstat: ns on CPU of every live thread.
inline std::optional<int64_t> schedstat_cpu_ns(int pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  int64_t total = 0;
  bool any = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/schedstat");
    long long ns = 0;
    if (f >> ns) {
      total += ns;
      any = true;
    }
  }
  closedir(d);
  if (!any) return std::nullopt;
  return total;
}

// utime + stime (fields 14 and 15) of /proc/PID/stat, in ns; whole process, tick resolution.
inline std::optional<int64_t> stat_cpu_ns(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return std::nullopt;
  size_t paren = line.rfind(')');  // the command name may contain spaces and parentheses
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(paren + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return (utime + stime) * (int64_t{1000000000} / sysconf(_SC_CLK_TCK));
}

// The server's CPU time: schedstat when the kernel has it, else /proc/PID/stat.
struct CpuReader {
  int pid;
  bool use_schedstat;

  explicit CpuReader(int pid) : pid(pid), use_schedstat(schedstat_cpu_ns(pid).has_value()) {}
  const char* source() const { return use_schedstat ? "schedstat" : "stat"; }
  int64_t read() const {
    std::optional<int64_t> ns = use_schedstat ? schedstat_cpu_ns(pid) : stat_cpu_ns(pid);
    if (!ns) {
      std::fprintf(stderr, "cannot read the CPU time of pid %d (has the server died?)\n", pid);
      std::exit(1);
    }
    return *ns;
  }
};

}  // namespace load_util

#endif  // AIO_BENCH_ECHO_LOAD_UTIL_H_
