#include "process/subprocess_transport.h"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <string>
#include <utility>

#include "loop/errors.h"
#include "loop/logging.h"

namespace aio::process::internal {

using aio::internal::Ref;

// The protocol of one stdio pipe (CPython's ReadSubprocessPipeProto / WriteSubprocessPipeProto):
// forwards what its pipe transport reports to the subprocess transport, tagged with the fd.
class PipeProtocol final : public Protocol {
 public:
  PipeProtocol(UnixSubprocessTransport* owner, int fd) : owner_(owner), fd_(fd) {}
  void data_received(std::span<const std::byte> data) override {
    if (owner_ != nullptr) owner_->pipe_data_received(fd_, data);
  }
  void connection_lost(std::exception_ptr error) override {
    UnixSubprocessTransport* owner = std::exchange(owner_, nullptr);
    if (owner != nullptr) owner->pipe_connection_lost(fd_, error);
  }
  void pause_writing() override {
    if (owner_ != nullptr) owner_->pipe_pause_writing();
  }
  void resume_writing() override {
    if (owner_ != nullptr) owner_->pipe_resume_writing();
  }

 private:
  UnixSubprocessTransport* owner_;  // the owner outlives the pipes' connection_lost
  int fd_;
};

namespace {

// Kills and reaps a child nobody will watch (a failed start).
void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

Ref<UnixSubprocessTransport> UnixSubprocessTransport::start(
    EventLoop& loop, std::shared_ptr<SubprocessProtocol> protocol,
    const std::vector<std::string>& argv, const SubprocessOptions& options,
    AbstractChildWatcher& watcher) {
  // 3.8's `with watcher:` around spawning and registering (FastChildWatcher keeps the status
  // of a child that exits in between).
  ChildWatcherScope scope(watcher);
  SpawnedChild child = spawn(argv, options);
  auto transport =
      Ref<UnixSubprocessTransport>::share(new UnixSubprocessTransport(loop, std::move(protocol)));
  transport->pid_ = child.pid;
  transport->pipes_[0].present = child.stdin_pipe.is_open();
  transport->pipes_[1].present = child.stdout_pipe.is_open();
  transport->pipes_[2].present = child.stderr_pipe.is_open();
  try {
    transport->connect_pipes(child);
    // The watcher reports on the loop's thread; as asyncio, the exit is handled one
    // call_soon_threadsafe later (a watcher may call from the loop thread while it polls).
    watcher.add_child_handler(
        child.pid, [self = transport, poster = loop.poster()](pid_t, int returncode) mutable {
          self->reaped_.store(true, std::memory_order_release);
          poster->post([self = std::move(self), returncode] { self->process_exited(returncode); });
        });
  } catch (...) {
    kill_and_reap(child.pid);
    transport->reaped_ = true;
    for (Pipe& pipe : transport->pipes_) {
      if (pipe.transport) pipe.transport->close();
    }
    throw;
  }
  transport->self_ = transport;
  aio::internal::register_with_loop(loop, transport.get());
  // After the pipes' own connection_made calls (queued by their create()).
  loop.call_soon([transport] {
    if (transport->protocol_) transport->protocol_->connection_made(*transport);
  });
  return transport;
}

void UnixSubprocessTransport::connect_pipes(SpawnedChild& child) {
  if (child.stdin_pipe.is_open()) {
    pipes_[0].transport = WritePipeTransport::create(*loop_, child.stdin_pipe,
                                                     std::make_shared<PipeProtocol>(this, 0));
  }
  if (child.stdout_pipe.is_open()) {
    pipes_[1].transport = ReadPipeTransport::create(*loop_, child.stdout_pipe,
                                                    std::make_shared<PipeProtocol>(this, 1));
  }
  if (child.stderr_pipe.is_open()) {
    pipes_[2].transport = ReadPipeTransport::create(*loop_, child.stderr_pipe,
                                                    std::make_shared<PipeProtocol>(this, 2));
  }
}

BaseTransport* UnixSubprocessTransport::get_pipe_transport(int fd) const {
  if (fd < 0 || fd > 2) return nullptr;
  return pipes_[fd].transport.get();
}

void UnixSubprocessTransport::pipe_data_received(int fd, std::span<const std::byte> data) {
  if (!protocol_) return;
  // Queued, as asyncio's _call: the data is copied, it is valid during this call only.
  loop_->call_soon([protocol = protocol_, fd,
                    data = std::string(reinterpret_cast<const char*>(data.data()), data.size())] {
    protocol->pipe_data_received(fd,
                                 std::as_bytes(std::span<const char>(data.data(), data.size())));
  });
}

void UnixSubprocessTransport::pipe_connection_lost(int fd, std::exception_ptr error) {
  pipes_[fd].disconnected = true;
  if (protocol_) {
    loop_->call_soon(
        [protocol = protocol_, fd, error] { protocol->pipe_connection_lost(fd, error); });
  }
  try_finish();
}

void UnixSubprocessTransport::pipe_pause_writing() {
  if (protocol_) protocol_->pause_writing();
}

void UnixSubprocessTransport::pipe_resume_writing() {
  if (protocol_) protocol_->resume_writing();
}

void UnixSubprocessTransport::process_exited(int returncode) {
  if (lost_ || returncode_ || loop_ == nullptr) return;  // once only
  if (loop_->get_debug()) {
    log(LogLevel::kInfo, repr() + " exited with return code " + std::to_string(returncode));
  }
  returncode_ = returncode;
  if (protocol_) loop_->call_soon([protocol = protocol_] { protocol->process_exited(); });
  try_finish();
  std::vector<Future<int>> waiters = std::move(exit_waiters_);
  for (Future<int>& waiter : waiters) {
    if (!waiter.done()) waiter.set_result(returncode);
  }
}

void UnixSubprocessTransport::try_finish() {
  if (!returncode_ || finished_) return;
  for (const Pipe& pipe : pipes_) {
    if (pipe.present && !pipe.disconnected) return;
  }
  finished_ = true;
  loop_->call_soon(
      [self = Ref<UnixSubprocessTransport>::share(this)] { self->call_connection_lost(); });
}

void UnixSubprocessTransport::call_connection_lost() {
  lost_ = true;
  std::shared_ptr<SubprocessProtocol> protocol = std::move(protocol_);
  Ref<UnixSubprocessTransport> keep = std::move(self_);  // the caller holds another reference
  aio::internal::unregister_from_loop(*loop_, this);
  if (protocol) protocol->connection_lost(nullptr);
}

bool UnixSubprocessTransport::still_running() const {
  if (returncode_ || reaped_.load(std::memory_order_acquire) || pid_ <= 0) return false;
  // WNOWAIT: look without reaping, the watcher does that.
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return false;  // ECHILD: already reaped
  }
  return info.si_pid == 0;
}

void UnixSubprocessTransport::send_signal(int sig) {
  if (lost_ || returncode_ || reaped_.load(std::memory_order_acquire)) {
    throw ProcessLookupError(ESRCH);
  }
  if (::kill(pid_, sig) != 0) throw_errno();
}

void UnixSubprocessTransport::terminate() { send_signal(SIGTERM); }

void UnixSubprocessTransport::kill() { send_signal(SIGKILL); }

void UnixSubprocessTransport::close() {
  if (closed_) return;
  closed_ = true;
  for (Pipe& pipe : pipes_) {
    if (pipe.transport) pipe.transport->close();
  }
  if (!lost_ && still_running()) {
    if (loop_ != nullptr && loop_->get_debug()) {
      log(LogLevel::kWarning, "Close running child process: kill " + repr());
    }
    ::kill(pid_, SIGKILL);  // ESRCH cannot happen before the reap; ignore it anyway
  }
}

std::any UnixSubprocessTransport::get_extra_info(std::string_view name,
                                                 std::any default_value) const {
  return default_value;
}

void UnixSubprocessTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto subprocess_protocol = std::dynamic_pointer_cast<SubprocessProtocol>(std::move(protocol));
  if (!subprocess_protocol) throw TypeError("a subprocess transport needs a SubprocessProtocol");
  protocol_ = std::move(subprocess_protocol);
}

std::string UnixSubprocessTransport::repr() const {
  std::string text = "<UnixSubprocessTransport";
  if (closed_) text += " closed";
  text += " pid=" + std::to_string(pid_);
  text += returncode_ ? " returncode=" + std::to_string(*returncode_) : std::string(" running");
  static const char* const kNames[] = {"stdin", "stdout", "stderr"};
  for (int fd = 0; fd < 3; ++fd) {
    if (pipes_[fd].transport) {
      text += std::string(" ") + kNames[fd] + "=" + pipes_[fd].transport->repr();
    }
  }
  return text + ">";
}

Future<int> UnixSubprocessTransport::exit_future() {
  if (loop_ == nullptr) throw RuntimeError("Event loop is closed");
  Future<int> waiter = loop_->create_future<int>();
  if (returncode_) {
    waiter.set_result(*returncode_);
  } else {
    exit_waiters_.push_back(waiter);
  }
  return waiter;
}

void UnixSubprocessTransport::on_loop_closed() noexcept {
  if (!closed_) log(LogLevel::kWarning, "unclosed transport " + repr() + " closed with its loop");
  // The watcher's entry on this loop goes away with it: reap the child here, killed if it
  // still runs, so that no zombie stays behind.
  if (!returncode_ && !reaped_.load(std::memory_order_acquire)) {
    if (still_running()) ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  closed_ = true;
  lost_ = true;
  protocol_.reset();
  exit_waiters_.clear();
  for (Pipe& pipe : pipes_) pipe.transport.reset();
  loop_ = nullptr;
  Ref<UnixSubprocessTransport> self = std::move(self_);  // may destroy this: last
}

}  // namespace aio::process::internal
