#include "process/subprocess.h"

#include <exception>
#include <utility>

#include "loop/errors.h"
#include "process/subprocess_transport.h"
#include "process/watcher_policy.h"

namespace aio {

namespace {

// asyncio's checks, in its order (base_events.subprocess_exec / subprocess_shell): the pipes
// are bytes only and unbuffered.
void check_stream_options(const SubprocessOptions& options) {
  if (options.universal_newlines) throw ValueError("universal_newlines must be False");
}
void check_buffer_options(const SubprocessOptions& options) {
  if (options.bufsize != 0) throw ValueError("bufsize must be 0");
  if (options.text) throw ValueError("text must be False");
  if (options.encoding) throw ValueError("encoding must be None");
  if (options.errors) throw ValueError("errors must be None");
}

// unix_events._make_subprocess_transport: check the watcher before spawning, spawn, wait for
// the pipes; if that wait is cancelled, kill and reap the child before letting go.
Coro<SubprocessConnection<>> make_subprocess(EventLoop& loop, SubprocessProtocolFactory factory,
                                             std::vector<std::string> argv,
                                             SubprocessOptions options) {
  std::shared_ptr<SubprocessProtocol> protocol = factory();
  if (!protocol) throw TypeError("the protocol factory returned no protocol");
  std::shared_ptr<process::AbstractChildWatcher> watcher = process::get_child_watcher();
  if (!watcher->is_active()) {
    throw RuntimeError(
        "asyncio.get_child_watcher() is not activated, subprocess support is not installed.");
  }
  loop.check_closed();
  SubprocessTransportRef transport =
      process::internal::UnixSubprocessTransport::start(loop, protocol, argv, options, *watcher);
  // The pipes are connected already; returning one iteration later, after connection_made
  // (queued by start), is asyncio's order.
  Future<void> waiter = loop.create_future();
  loop.call_soon([waiter]() mutable {
    if (!waiter.done()) waiter.set_result();
  });
  std::exception_ptr failure;
  try {
    co_await waiter;
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    transport->close();
    co_await transport->exit_future();
    std::rethrow_exception(failure);
  }
  co_return SubprocessConnection<>{std::move(transport), std::move(protocol)};
}

}  // namespace

Coro<SubprocessConnection<>> subprocess_exec(EventLoop& loop, SubprocessProtocolFactory factory,
                                             std::string program, std::vector<std::string> args,
                                             SubprocessOptions options) {
  check_stream_options(options);
  if (options.shell.value_or(false)) throw ValueError("shell must be False");
  check_buffer_options(options);
  if (program.empty()) throw ValueError("program must not be empty");
  std::vector<std::string> argv;
  argv.reserve(args.size() + 1);
  argv.push_back(std::move(program));
  for (std::string& arg : args) argv.push_back(std::move(arg));
  co_return co_await make_subprocess(loop, std::move(factory), std::move(argv), std::move(options));
}

Coro<SubprocessConnection<>> subprocess_shell(EventLoop& loop, SubprocessProtocolFactory factory,
                                              std::string cmd, SubprocessOptions options) {
  check_stream_options(options);
  if (!options.shell.value_or(true)) throw ValueError("shell must be True");
  check_buffer_options(options);
  co_return co_await make_subprocess(loop, std::move(factory), {"/bin/sh", "-c", std::move(cmd)},
                                     std::move(options));
}

}  // namespace aio
