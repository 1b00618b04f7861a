// asyncio's high-level subprocesses: create_subprocess_exec / create_subprocess_shell give a
// Process whose pipes are streams (StreamWriter stdin, StreamReader stdout and stderr).
//
//   aio::Process proc = co_await aio::create_subprocess_exec("ls", {"-l"});
//   auto [out, err] = co_await proc.communicate();
//   int code = co_await proc.wait();
#ifndef AIO_PROCESS_PROCESS_H_
#define AIO_PROCESS_PROCESS_H_

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loop/task.h"
#include "net/stream_reader.h"
#include "net/stream_writer.h"
#include "process/subprocess_options.h"
#include "process/subprocess_protocol.h"

namespace aio {

namespace internal {
class SubprocessStreamProtocol;
}

// asyncio.subprocess.Process. A handle: copies refer to the same child.
class Process {
 public:
  Process(SubprocessTransportRef transport,
          std::shared_ptr<internal::SubprocessStreamProtocol> protocol);

  // Set when the option was PIPE.
  std::optional<StreamWriter> stdin;
  std::optional<StreamReader> stdout;
  std::optional<StreamReader> stderr;
  pid_t pid;

  // The exit status (-N for signal N) once the child exited, else nullopt.
  std::optional<int> returncode() const;
  // Waits for the exit; any number of waiters all get the code. Cancelling one wait leaves the
  // child and the other waiters alone.
  Coro<int> wait();
  // Writes `input` (if given) to stdin and closes it, reads stdout and stderr to EOF at the
  // same time, then waits for the exit. (stdout, stderr): "" for a stream that is not a PIPE.
  // BrokenPipeError / ConnectionResetError from a child that exits before reading all input
  // are ignored.
  Coro<std::pair<std::string, std::string>> communicate(
      std::optional<std::string> input = std::nullopt);
  // ProcessLookupError once the exit was seen.
  void send_signal(int sig);
  void terminate();
  void kill();

  SubprocessTransport& transport() const { return *transport_; }
  std::string repr() const;

 private:
  SubprocessTransportRef transport_;
  std::shared_ptr<internal::SubprocessStreamProtocol> protocol_;
};

// On the running loop; the options and errors of subprocess_exec / subprocess_shell, plus
// `limit`, the StreamReaders' buffer limit.
Coro<Process> create_subprocess_exec(std::string program, std::vector<std::string> args = {},
                                     SubprocessOptions options = {},
                                     std::size_t limit = kDefaultStreamLimit);
Coro<Process> create_subprocess_shell(std::string cmd, SubprocessOptions options = {},
                                      std::size_t limit = kDefaultStreamLimit);

}  // namespace aio

#endif  // AIO_PROCESS_PROCESS_H_
