// Real peers for tests (dnsmasq, socat, nc, python3): a child process that the test owns and
// that is always stopped, plus the small socket checks used to wait until a peer is ready.
#ifndef AIO_TESTING_PEER_PROCESS_H_
#define AIO_TESTING_PEER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace aio::testing {

// A child started with posix_spawn; stdout/stderr go to the test log (or /dev/null if quiet).
// The destructor stops it: SIGTERM, then SIGKILL if it has not exited after 5 s, then reaps it.
class PeerProcess {
 public:
  PeerProcess() = default;
  // Starts argv[0] (searched in PATH, /usr/sbin and /sbin). Throws std::runtime_error if the
  // program cannot be found or started.
  explicit PeerProcess(const std::vector<std::string>& argv, bool quiet = false);
  ~PeerProcess() { stop(); }
  PeerProcess(PeerProcess&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  PeerProcess& operator=(PeerProcess&& other) noexcept;
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const;
  // Stops and reaps the child; returns its wait status (or -1 if there was none).
  int stop();
  // Waits up to `timeout` s for the child to exit by itself; returns its wait status or -1.
  int wait(double timeout);

 private:
  pid_t pid_ = -1;
};

// The absolute path of `program`, or "" if it is not installed.
std::string find_program(const std::string& program);

// A loopback port that was free a moment ago for both TCP and UDP (bound to 0, then released).
int free_loopback_port();

// Waits up to `timeout` s until something accepts TCP connections on 127.0.0.1:port; gives up
// early if `server` exits.
bool wait_for_tcp_port(int port, double timeout, const PeerProcess& server);

}  // namespace aio::testing

#endif  // AIO_TESTING_PEER_PROCESS_H_
