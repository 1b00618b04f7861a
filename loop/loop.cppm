// The named module aio.loop: `import aio.loop;` gives the kernel's API. The headers stay the
// source of truth (and remain #include-able); this unit exports the names they declare.
module;

#include "loop/loop.h"

export module aio.loop;

export namespace aio {
using aio::BaseException;
using aio::BlockingIOError;
using aio::BrokenPipeError;
using aio::Callback;
using aio::CancelledError;
using aio::ChildProcessError;
using aio::ConcurrentFuture;
using aio::ConnectionAbortedError;
using aio::ConnectionError;
using aio::ConnectionRefusedError;
using aio::ConnectionResetError;
using aio::Coro;
using aio::operator co_await;
using aio::DefaultEventLoopPolicy;
using aio::describe_exception;
using aio::DoneCallbackId;
using aio::ensure_future;
using aio::EventLoop;
using aio::EventLoopOptions;
using aio::EventLoopPolicy;
using aio::Exception;
using aio::exception_message;
using aio::ExceptionContext;
using aio::ExceptionHandler;
using aio::Executor;
using aio::FileExistsError;
using aio::FileNotFoundError;
using aio::Future;
using aio::gather;
using aio::get_event_loop;
using aio::get_event_loop_policy;
using aio::get_running_loop;
using aio::Handle;
using aio::Interrupt;
using aio::InterruptedError;
using aio::InvalidStateError;
using aio::is_interrupt;
using aio::IsADirectoryError;
using aio::KeyboardInterrupt;
using aio::log;
using aio::log_level_name;
using aio::LogLevel;
using aio::LogSink;
using aio::new_event_loop;
using aio::NotADirectoryError;
using aio::NotImplementedError;
using aio::OSError;
using aio::PermissionError;
using aio::PollerKind;
using aio::ProcessLookupError;
using aio::run;
using aio::RuntimeError;
using aio::set_event_loop;
using aio::set_event_loop_policy;
using aio::set_log_sink;
using aio::shield;
using aio::sleep;
using aio::SystemExit;
using aio::Task;
using aio::TaskFactory;
using aio::TaskRef;
using aio::ThreadPoolExecutor;
using aio::throw_errno;
using aio::throw_os_error;
using aio::TimeoutError;
using aio::TimerHandle;
using aio::TypeError;
using aio::ValueError;
using aio::wait_for;
using aio::wrap_future;
}  // namespace aio
