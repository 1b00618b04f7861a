// Running subprocesses on the loop: asyncio's loop.subprocess_exec and loop.subprocess_shell,
// as free functions taking the loop (as //net's create_connection):
//
//   auto [transport, protocol] = co_await aio::subprocess_exec(
//       loop, [] { return std::make_shared<MyProtocol>(); }, "ls", {"-l"});
//
// The child is watched by the policy's child watcher (get_child_watcher(): a
// PidfdChildWatcher unless set_child_watcher() chose another).
#ifndef AIO_PROCESS_SUBPROCESS_H_
#define AIO_PROCESS_SUBPROCESS_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loop/event_loop.h"
#include "loop/task.h"
#include "process/subprocess_options.h"
#include "process/subprocess_protocol.h"

namespace aio {

using SubprocessProtocolFactory = std::function<std::shared_ptr<SubprocessProtocol>()>;
template <class P = SubprocessProtocol>
using SubprocessConnection = std::pair<SubprocessTransportRef, std::shared_ptr<P>>;

// Runs `program` with `args` (argv[1:]; argv[0] is `program`). Returns once the pipes are
// connected; connection_made is then queued. Errors, before anything is spawned: ValueError
// ("universal_newlines must be False", "text must be False", "encoding must be None", "errors
// must be None", "bufsize must be 0", "shell must be False", "program must not be empty",
// "stderr=STDOUT is only valid for stderr"...), RuntimeError when the child watcher is not
// active; then the spawn's own OSError (FileNotFoundError, PermissionError...) with errno, or
// SubprocessError from preexec_fn, leaving no child and no fd. Cancelled before it returns:
// the child is killed and reaped, then CancelledError propagates.
Coro<SubprocessConnection<>> subprocess_exec(EventLoop& loop, SubprocessProtocolFactory factory,
                                             std::string program, std::vector<std::string> args,
                                             SubprocessOptions options = {});
// Runs `cmd` with /bin/sh -c. ValueError("shell must be True") if options.shell is false.
Coro<SubprocessConnection<>> subprocess_shell(EventLoop& loop, SubprocessProtocolFactory factory,
                                              std::string cmd, SubprocessOptions options = {});

// The typed forms: the protocol comes back as the factory's own type.
template <class P, class Factory>
Coro<SubprocessConnection<P>> subprocess_exec(EventLoop& loop, Factory factory, std::string program,
                                              std::vector<std::string> args,
                                              SubprocessOptions options = {}) {
  auto made =
      co_await subprocess_exec(loop, SubprocessProtocolFactory([factory = std::move(factory)] {
                                 return std::shared_ptr<SubprocessProtocol>(factory());
                               }),
                               std::move(program), std::move(args), std::move(options));
  co_return SubprocessConnection<P>{std::move(made.first),
                                    std::static_pointer_cast<P>(std::move(made.second))};
}
template <class P, class Factory>
Coro<SubprocessConnection<P>> subprocess_shell(EventLoop& loop, Factory factory, std::string cmd,
                                               SubprocessOptions options = {}) {
  auto made =
      co_await subprocess_shell(loop, SubprocessProtocolFactory([factory = std::move(factory)] {
                                  return std::shared_ptr<SubprocessProtocol>(factory());
                                }),
                                std::move(cmd), std::move(options));
  co_return SubprocessConnection<P>{std::move(made.first),
                                    std::static_pointer_cast<P>(std::move(made.second))};
}

}  // namespace aio

#endif  // AIO_PROCESS_SUBPROCESS_H_
