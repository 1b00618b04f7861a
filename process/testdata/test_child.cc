// The child the //process tests spawn: one small program with a mode per behaviour a test needs,
// so that each answer is exact and nothing depends on what /bin tools print.
//
//   test_child exit N            exits with status N
//   test_child kill SIG          kills itself with SIG
//   test_child write N [fd]      writes N bytes ('a'..'z' repeating) to fd (1), then exits 0
//   test_child echo              copies stdin to stdout until EOF, then exits 0
//   test_child echo_both         copies stdin to stdout and to stderr until EOF
//   test_child count             reads stdin to EOF, prints the byte count
//   test_child read_then_exit N  reads N bytes of stdin, exits 0 (closes stdin early)
//   test_child signals           "mask=<blocked signals> ignored=<ignored signals>"
//   test_child fds               the open fds other than 0, 1, 2 (from /proc/self/fd)
//   test_child umask             the umask in octal
//   test_child session           "leader" if it leads its own session, else "member"
//   test_child ids               "uid=U gid=G"
//   test_child env NAME          the value of $NAME, or "<unset>"
//   test_child sleep SECONDS     sleeps, then exits 0
//   test_child argv0             argv[0]
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

int copy_stdin(bool both) {
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(0, buffer, sizeof buffer);
    if (n <= 0) return n == 0 ? 0 : 1;
    if (!write_all(1, buffer, static_cast<size_t>(n))) return 2;
    if (both && !write_all(2, buffer, static_cast<size_t>(n))) return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 100;
  std::string mode = argv[1];
  const char* arg = argc > 2 ? argv[2] : "0";
  if (mode == "exit") return std::atoi(arg);
  if (mode == "kill") {
    signal(std::atoi(arg), SIG_DFL);
    ::kill(getpid(), std::atoi(arg));
    ::pause();
    return 101;
  }
  if (mode == "write") {
    long total = std::atol(arg);
    int fd = argc > 3 ? std::atoi(argv[3]) : 1;
    std::string chunk(65536, 'a');
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>('a' + i % 26);
    long sent = 0;
    while (sent < total) {
      size_t piece = static_cast<size_t>(std::min<long>(total - sent, 65536));
      size_t offset = static_cast<size_t>(sent % 26);
      // Keep the pattern continuous across chunks: byte k is 'a' + k % 26.
      std::string part;
      part.reserve(piece);
      for (size_t i = 0; i < piece; ++i) part.push_back(chunk[(offset + i) % 26]);
      if (!write_all(fd, part.data(), part.size())) return 2;
      sent += static_cast<long>(piece);
    }
    return 0;
  }
  if (mode == "echo") return copy_stdin(false);
  if (mode == "echo_both") return copy_stdin(true);
  if (mode == "count") {
    char buffer[65536];
    long total = 0;
    ssize_t n;
    while ((n = ::read(0, buffer, sizeof buffer)) > 0) total += n;
    std::printf("%ld\n", total);
    return 0;
  }
  if (mode == "read_then_exit") {
    long want = std::atol(arg);
    char buffer[4096];
    while (want > 0) {
      ssize_t n = ::read(0, buffer, std::min<long>(want, sizeof buffer));
      if (n <= 0) break;
      want -= n;
    }
    return 0;
  }
  if (mode == "signals") {
    sigset_t blocked;
    sigprocmask(SIG_BLOCK, nullptr, &blocked);
    std::string mask, ignored;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sigismember(&blocked, sig) == 1) mask += (mask.empty() ? "" : ",") + std::to_string(sig);
      struct sigaction action;
      if (sigaction(sig, nullptr, &action) == 0 && action.sa_handler == SIG_IGN) {
        ignored += (ignored.empty() ? "" : ",") + std::to_string(sig);
      }
    }
    std::printf("mask=%s ignored=%s\n", mask.c_str(), ignored.c_str());
    return 0;
  }
  if (mode == "fds") {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return 3;
    int own = dirfd(dir);
    std::string out;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      int fd = std::atoi(entry->d_name);
      if (fd <= 2 || fd == own) continue;
      out += (out.empty() ? "" : ",") + std::to_string(fd);
    }
    closedir(dir);
    std::printf("%s\n", out.c_str());
    return 0;
  }
  if (mode == "umask") {
    mode_t mask = ::umask(0);
    std::printf("%03o\n", static_cast<unsigned>(mask));
    return 0;
  }
  if (mode == "session") {
    std::printf("%s\n", getsid(0) == getpid() ? "leader" : "member");
    return 0;
  }
  if (mode == "ids") {
    std::printf("uid=%u gid=%u\n", static_cast<unsigned>(getuid()),
                static_cast<unsigned>(getgid()));
    return 0;
  }
  if (mode == "env") {
    const char* value = std::getenv(arg);
    std::printf("%s\n", value ? value : "<unset>");
    return 0;
  }
  if (mode == "sleep") {
    ::usleep(static_cast<useconds_t>(std::atof(arg) * 1e6));
    return 0;
  }
  if (mode == "argv0") {
    std::printf("%s\n", argv[0]);
    return 0;
  }
  return 100;
}
