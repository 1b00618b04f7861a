// The SubprocessTransport aio's subprocess_exec / subprocess_shell return (CPython 3.8's
// base_subprocess.BaseSubprocessTransport + unix_events._UnixSubprocessTransport): a spawned
// child, the pipe transports of its stdio, and the order rules of subprocess_protocol.h.
// Internal to //process; users see SubprocessTransport.
#ifndef AIO_PROCESS_SUBPROCESS_TRANSPORT_H_
#define AIO_PROCESS_SUBPROCESS_TRANSPORT_H_

#include <sys/types.h>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "loop/ref.h"
#include "net/closes_with_loop.h"
#include "net/pipe_transport.h"
#include "process/child_watcher.h"
#include "process/spawn.h"
#include "process/subprocess_options.h"
#include "process/subprocess_protocol.h"

namespace aio::process::internal {

class PipeProtocol;

class UnixSubprocessTransport final : public SubprocessTransport,
                                      private aio::internal::ClosesWithLoop {
 public:
  // Spawns the child (errors propagate, nothing is left behind), connects its pipes to the
  // loop, registers it with `watcher` and queues protocol->connection_made(*this).
  static aio::internal::Ref<UnixSubprocessTransport> start(
      EventLoop& loop, std::shared_ptr<SubprocessProtocol> protocol,
      const std::vector<std::string>& argv, const SubprocessOptions& options,
      AbstractChildWatcher& watcher);

  pid_t get_pid() const override { return pid_; }
  std::optional<int> get_returncode() const override { return returncode_; }
  BaseTransport* get_pipe_transport(int fd) const override;
  void send_signal(int sig) override;
  void terminate() override;
  void kill() override;
  void close() override;
  bool is_closing() const override { return closed_; }
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override;
  Future<int> exit_future() override;

  // From the pipes' protocols.
  void pipe_data_received(int fd, std::span<const std::byte> data);
  void pipe_connection_lost(int fd, std::exception_ptr error);
  void pipe_pause_writing();
  void pipe_resume_writing();

 private:
  UnixSubprocessTransport(EventLoop& loop, std::shared_ptr<SubprocessProtocol> protocol)
      : loop_(&loop), protocol_(std::move(protocol)) {}
  void connect_pipes(SpawnedChild& child);
  void process_exited(int returncode);
  void try_finish();
  void call_connection_lost();
  bool still_running() const;
  void on_loop_closed() noexcept override;

  struct Pipe {
    aio::internal::Ref<BaseTransport> transport;
    bool present = false;  // the option was PIPE
    bool disconnected = false;
  };

  EventLoop* loop_;
  std::shared_ptr<SubprocessProtocol> protocol_;
  // The loop's reference: from spawn until connection_lost (or the loop's close).
  aio::internal::Ref<UnixSubprocessTransport> self_;
  pid_t pid_ = -1;
  std::optional<int> returncode_;
  // Set by the watcher's callback the moment the child is reaped (its pid may be reused from
  // then on), one loop iteration before returncode_.
  std::atomic<bool> reaped_{false};
  Pipe pipes_[3];
  bool closed_ = false;
  bool finished_ = false;  // connection_lost is queued
  bool lost_ = false;      // connection_lost ran
  std::vector<Future<int>> exit_waiters_;
};

}  // namespace aio::process::internal

#endif  // AIO_PROCESS_SUBPROCESS_TRANSPORT_H_
