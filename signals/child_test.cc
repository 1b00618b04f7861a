// A parent signalling a child that runs a small aio program (signals/testdata/signal_child.cc):
// counted deliveries, a handler removing another, Ctrl-C with and without the program's own
// handlers, SIGHUP to a serving child. The child's stdout and stderr are checked exactly, and
// so is how it ended. Every wait is bounded; the child is always killed and reaped.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace {

// The program is the test's first argument ($(location :signal_child) in BUILD).
std::string child_path() {
  std::vector<std::string> argv = ::testing::internal::GetArgvs();
  return argv.size() > 1 ? argv[1] : "";
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// The child, its stdout and stderr through pipes. The destructor kills and reaps it.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) std::abort();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    // The child starts with default dispositions and nothing blocked, whatever the test has.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    std::string path = child_path();
    std::vector<std::string> argv_storage = {path};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, path.c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
    if (rc != 0) pid_ = -1;
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
    close(err_);
  }

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Waits up to 20 s for one more complete line on stdout; "" on EOF or timeout.
  std::string read_line() {
    double deadline = now() + 20;
    while (true) {
      std::size_t newline = stdout_.find('\n', consumed_);
      if (newline != std::string::npos) {
        std::string line = stdout_.substr(consumed_, newline - consumed_);
        consumed_ = newline + 1;
        return line;
      }
      if (!read_more(out_, stdout_, deadline)) return "";
    }
  }

  // Waits up to 20 s for the child to exit; returns its wait status, or -1. Reads the rest of
  // stdout and stderr.
  int wait() {
    double deadline = now() + 20;
    while (read_more(out_, stdout_, deadline)) {
    }
    while (read_more(err_, stderr_, deadline)) {
    }
    while (now() < deadline) {
      int status;
      pid_t got = waitpid(pid_, &status, WNOHANG);
      if (got == pid_) {
        pid_ = -1;
        return status;
      }
      usleep(5000);
    }
    return -1;
  }

  // Everything the child wrote (after wait()).
  const std::string& out() const { return stdout_; }
  const std::string& err() const { return stderr_; }

 private:
  // Appends what `fd` has; false at EOF or when the deadline passed.
  static bool read_more(int fd, std::string& into, double deadline) {
    double left = deadline - now();
    if (left <= 0) return false;
    pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left * 1000) + 1);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    char buffer[4096];
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) return true;
    if (got <= 0) return false;
    into.append(buffer, static_cast<std::size_t>(got));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  std::string stdout_;
  std::string stderr_;
  std::size_t consumed_ = 0;
};

// The port from "listening on PORT", or 0.
int port_of(const std::string& line) {
  const std::string prefix = "listening on ";
  if (line.rfind(prefix, 0) != 0) return 0;
  return std::atoi(line.c_str() + prefix.size());
}

// Sends "ping" to 127.0.0.1:port and returns what comes back (10 s at most).
std::string echo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval ten = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &ten, sizeof ten);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &ten, sizeof ten);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      send(fd, "ping", 4, MSG_NOSIGNAL) == 4) {
    char buffer[16];
    while (reply.size() < 4) {
      ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      reply.append(buffer, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  return reply;
}

bool killed_by(int status, int sig) { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
bool exited_zero(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

TEST(ChildTest, CountsDeliveriesUntilASecondHandlerRemovesTheFirst) {
  Child child({"count"});
  ASSERT_TRUE(child.started());
  ASSERT_EQ(child.read_line(), "ready");
  kill(child.pid(), SIGUSR1);
  ASSERT_EQ(child.read_line(), "usr1 1");
  kill(child.pid(), SIGUSR1);
  ASSERT_EQ(child.read_line(), "usr1 2");
  kill(child.pid(), SIGUSR2);
  ASSERT_EQ(child.read_line(), "usr2: remove_signal_handler(SIGUSR1) -> true");
  // The handler is gone and SIGUSR1 is SIG_DFL again: it ends the child without a "usr1 3".
  kill(child.pid(), SIGUSR1);
  int status = child.wait();
  EXPECT_TRUE(killed_by(status, SIGUSR1)) << "wait status " << status;
  EXPECT_EQ(child.out(), "ready\nusr1 1\nusr1 2\nusr2: remove_signal_handler(SIGUSR1) -> true\n");
  EXPECT_EQ(child.err(), "");
}

TEST(ChildTest, CtrlCEndsAServingChildThatDoesNotCatchItBySigint) {
  Child child({"serve"});
  ASSERT_TRUE(child.started());
  int port = port_of(child.read_line());
  ASSERT_GT(port, 0);
  EXPECT_EQ(echo(port), "ping");
  kill(child.pid(), SIGINT);
  int status = child.wait();
  // An uncaught KeyboardInterrupt ends the process by SIGINT (Python 3.8), not by abort().
  EXPECT_TRUE(killed_by(status, SIGINT)) << "wait status " << status;
  EXPECT_EQ(child.out(), "listening on " + std::to_string(port) + "\n");
  EXPECT_EQ(child.err(), "");
}

TEST(ChildTest, CtrlCIsAKeyboardInterruptAServingChildCanCatch) {
  Child child({"serve", "--catch"});
  ASSERT_TRUE(child.started());
  int port = port_of(child.read_line());
  ASSERT_GT(port, 0);
  EXPECT_EQ(echo(port), "ping");
  kill(child.pid(), SIGINT);
  int status = child.wait();
  EXPECT_TRUE(exited_zero(status)) << "wait status " << status;
  EXPECT_EQ(child.out(), "listening on " + std::to_string(port) +
                             "\nKeyboardInterrupt: the server and the loop are closed\n");
  EXPECT_EQ(child.err(), "");
  EXPECT_EQ(echo(port), "") << "the server was closed";
}

TEST(ChildTest, CustomHandlersForSighupAndSigint) {
  Child child({"serve", "--handlers"});
  ASSERT_TRUE(child.started());
  int port = port_of(child.read_line());
  ASSERT_GT(port, 0);
  kill(child.pid(), SIGHUP);
  ASSERT_EQ(child.read_line(), "SIGHUP: reloading");
  EXPECT_EQ(echo(port), "ping") << "still serving after SIGHUP";
  kill(child.pid(), SIGHUP);
  ASSERT_EQ(child.read_line(), "SIGHUP: reloading");
  kill(child.pid(), SIGINT);
  int status = child.wait();
  EXPECT_TRUE(exited_zero(status)) << "wait status " << status;
  EXPECT_EQ(child.out(), "listening on " + std::to_string(port) +
                             "\nSIGHUP: reloading\nSIGHUP: reloading\nSIGINT: stopping\n"
                             "server closed\n");
  EXPECT_EQ(child.err(), "");
}

TEST(ChildTest, WithoutAHandlerSighupKeepsItsDefaultAction) {
  Child child({"serve"});
  ASSERT_TRUE(child.started());
  int port = port_of(child.read_line());
  ASSERT_GT(port, 0);
  kill(child.pid(), SIGHUP);
  int status = child.wait();
  EXPECT_TRUE(killed_by(status, SIGHUP)) << "wait status " << status;
  EXPECT_EQ(child.out(), "listening on " + std::to_string(port) + "\n");
  EXPECT_EQ(child.err(), "");
}

TEST(ChildTest, AProgramThatIgnoresSigintKeepsIgnoringIt) {
  Child child({"serve", "--ignore-sigint"});
  ASSERT_TRUE(child.started());
  int port = port_of(child.read_line());
  ASSERT_GT(port, 0);
  kill(child.pid(), SIGINT);
  EXPECT_EQ(echo(port), "ping") << "SIGINT was ignored: still serving";
  kill(child.pid(), SIGTERM);
  int status = child.wait();
  EXPECT_TRUE(killed_by(status, SIGTERM)) << "wait status " << status;
  EXPECT_EQ(child.out(), "listening on " + std::to_string(port) + "\n");
  EXPECT_EQ(child.err(), "");
}

}  // namespace
