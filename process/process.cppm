// The named module aio.process: `import aio.process;` gives //process's API (create_subprocess_exec
// / shell and Process, subprocess_exec / shell with SubprocessTransport and SubprocessProtocol,
// the options and errors, every child watcher and get/set_child_watcher) and, re-exported,
// aio.net's (a Process's pipes are StreamReader / StreamWriter). The headers stay the source
// of truth; this unit exports the names they declare (tools/module_exports.py checks the list
// against them).
module;

#include "process/fast_child_watcher.h"
#include "process/multi_loop_child_watcher.h"
#include "process/pidfd_child_watcher.h"
#include "process/process.h"
#include "process/safe_child_watcher.h"
#include "process/subprocess.h"
#include "process/subprocess_error.h"
#include "process/threaded_child_watcher.h"
#include "process/watcher_policy.h"

export module aio.process;

export import aio.net;

export namespace aio::process {
// process/child_watcher.h
using aio::process::AbstractChildWatcher;
using aio::process::ChildCallback;
using aio::process::ChildWatcherScope;

// process/fast_child_watcher.h
using aio::process::FastChildWatcher;

// process/multi_loop_child_watcher.h
using aio::process::MultiLoopChildWatcher;

// process/pidfd_child_watcher.h
using aio::process::PidfdChildWatcher;

// process/safe_child_watcher.h
using aio::process::SafeChildWatcher;

// process/threaded_child_watcher.h
using aio::process::ThreadedChildWatcher;

// process/watcher_policy.h
using aio::process::get_child_watcher;
using aio::process::set_child_watcher;
}  // namespace aio::process

export namespace aio {
// process/process.h
using aio::create_subprocess_exec;
using aio::create_subprocess_shell;
using aio::Process;

// process/subprocess.h
using aio::subprocess_exec;
using aio::subprocess_shell;
using aio::SubprocessConnection;
using aio::SubprocessProtocolFactory;

// process/subprocess_error.h
using aio::SubprocessError;

// process/subprocess_options.h
using aio::SubprocessOptions;

// process/subprocess_protocol.h
using aio::SubprocessProtocol;
using aio::SubprocessTransport;
using aio::SubprocessTransportRef;
}  // namespace aio

export namespace aio::subprocess {
// process/subprocess_options.h
using aio::subprocess::DEVNULL;
using aio::subprocess::INHERIT;
using aio::subprocess::PIPE;
using aio::subprocess::STDOUT;
}  // namespace aio::subprocess
