// asyncio.SubprocessProtocol and the transport interface it sees (asyncio.SubprocessTransport).
//
// The order every SubprocessTransport keeps (CPython 3.8's base_subprocess):
//   connection_made(transport) first;
//   per fd, every pipe_data_received(fd, ...) before that fd's pipe_connection_lost(fd, ...);
//   process_exited() exactly once, possibly before the pipes are closed;
//   connection_lost(nullptr) exactly once and last, after process_exited and every pipe's end.
#ifndef AIO_PROCESS_SUBPROCESS_PROTOCOL_H_
#define AIO_PROCESS_SUBPROCESS_PROTOCOL_H_

#include <sys/types.h>

#include <any>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "loop/future.h"
#include "loop/ref.h"
#include "net/protocols.h"
#include "net/transports.h"

namespace aio {

class SubprocessTransport : public BaseTransport {
 public:
  virtual pid_t get_pid() const = 0;
  // The exit status, -N if signal N killed the child; nullopt while it runs.
  virtual std::optional<int> get_returncode() const = 0;
  // The transport of the child's fd 0 (a WriteTransport), 1 or 2 (ReadTransports) when it is a
  // pipe to the loop (also after it closed, as asyncio); nullptr for DEVNULL, INHERIT, an fd,
  // stderr=STDOUT.
  virtual BaseTransport* get_pipe_transport(int fd) const = 0;
  // ProcessLookupError once the exit was seen (the pid may already be someone else's).
  virtual void send_signal(int sig) = 0;
  virtual void terminate() = 0;  // SIGTERM
  virtual void kill() = 0;       // SIGKILL
  // Closes the pipes, and kills the child if it is still running (never one that exited).
  // connection_lost follows once the exit is seen.
  void close() override = 0;

  // Internal (Process.wait): the return code once the child exited.
  virtual Future<int> exit_future() = 0;
};

using SubprocessTransportRef = internal::Ref<SubprocessTransport>;

class SubprocessProtocol : public BaseProtocol {
 public:
  virtual void connection_made(SubprocessTransport& transport) {}
  // `fd` (1 or 2) sent `data` (valid during the call only).
  virtual void pipe_data_received(int fd, std::span<const std::byte> data) {}
  // The pipe of `fd` (0, 1 or 2) closed: null `error` for EOF or close().
  virtual void pipe_connection_lost(int fd, std::exception_ptr error) {}
  virtual void process_exited() {}

 private:
  void connection_made(BaseTransport& transport) final;
};

}  // namespace aio

#endif  // AIO_PROCESS_SUBPROCESS_PROTOCOL_H_
