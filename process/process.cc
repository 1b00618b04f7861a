#include "process/process.h"

#include <utility>

#include "loop/errors.h"
#include "loop/task.h"
#include "process/subprocess.h"
#include "process/subprocess_stream_protocol.h"

namespace aio {

namespace {

// Process._feed_stdin: a child that exits without reading everything is not an error.
Coro<void> feed_stdin(StreamWriter writer, std::string input) {
  writer.write(input);
  try {
    co_await writer.drain();
  } catch (const BrokenPipeError&) {
  } catch (const ConnectionResetError&) {
  }
  writer.close();
}

// Process._read_stream: everything to EOF, then the pipe is closed.
Coro<std::string> read_stream(StreamReader reader, SubprocessTransportRef transport, int fd) {
  std::string output = co_await reader.read();
  if (BaseTransport* pipe = transport->get_pipe_transport(fd)) pipe->close();
  co_return output;
}

Coro<int> wait_exit(SubprocessTransportRef transport) {
  co_return co_await transport->exit_future();
}

}  // namespace

Process::Process(SubprocessTransportRef transport,
                 std::shared_ptr<internal::SubprocessStreamProtocol> protocol)
    : stdin(protocol->stdin),
      stdout(protocol->stdout),
      stderr(protocol->stderr),
      pid(transport->get_pid()),
      transport_(std::move(transport)),
      protocol_(std::move(protocol)) {}

std::optional<int> Process::returncode() const { return transport_->get_returncode(); }

Coro<int> Process::wait() { return wait_exit(transport_); }

Coro<std::pair<std::string, std::string>> Process::communicate(std::optional<std::string> input) {
  EventLoop& loop = get_running_loop();
  std::optional<Task<void>> feeder;
  std::optional<Task<std::string>> out_reader, err_reader;
  // Started together: the child may fill one pipe while we feed another.
  if (input && stdin) feeder = loop.create_task(feed_stdin(*stdin, std::move(*input)));
  if (stdout) out_reader = loop.create_task(read_stream(*stdout, transport_, 1));
  if (stderr) err_reader = loop.create_task(read_stream(*stderr, transport_, 2));
  std::pair<std::string, std::string> output;
  try {
    if (feeder) co_await *feeder;
    if (out_reader) output.first = co_await *out_reader;
    if (err_reader) output.second = co_await *err_reader;
  } catch (...) {
    // As gather(): a failure or a cancellation stops the other two as well (the child itself
    // is left alone).
    if (feeder) feeder->cancel();
    if (out_reader) out_reader->cancel();
    if (err_reader) err_reader->cancel();
    throw;
  }
  co_await wait_exit(transport_);
  co_return output;
}

void Process::send_signal(int sig) { transport_->send_signal(sig); }
void Process::terminate() { transport_->terminate(); }
void Process::kill() { transport_->kill(); }

std::string Process::repr() const { return "<Process " + std::to_string(pid) + ">"; }

namespace {

Coro<Process> start_process(std::optional<std::string> program, std::string command,
                            std::vector<std::string> args, SubprocessOptions options,
                            std::size_t limit) {
  EventLoop& loop = get_running_loop();
  auto protocol = std::make_shared<internal::SubprocessStreamProtocol>(loop, limit);
  SubprocessProtocolFactory factory = [protocol] { return protocol; };
  SubprocessConnection<> made =
      program ? co_await subprocess_exec(loop, factory, std::move(*program), std::move(args),
                                         std::move(options))
              : co_await subprocess_shell(loop, factory, std::move(command), std::move(options));
  co_return Process(std::move(made.first), protocol);
}

}  // namespace

Coro<Process> create_subprocess_exec(std::string program, std::vector<std::string> args,
                                     SubprocessOptions options, std::size_t limit) {
  return start_process(std::move(program), "", std::move(args), std::move(options), limit);
}

Coro<Process> create_subprocess_shell(std::string cmd, SubprocessOptions options,
                                      std::size_t limit) {
  return start_process(std::nullopt, std::move(cmd), {}, std::move(options), limit);
}

}  // namespace aio
