#include "net/transport_util.h"

#include <signal.h>

#include <memory>
#include <mutex>
#include <typeinfo>

#include "loop/errors.h"
#include "loop/logging.h"

namespace aio::internal {

std::byte* receive_buffer() {
  thread_local std::unique_ptr<std::byte[]> buffer(new std::byte[kMaxRead]);
  return buffer.get();
}

void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
    }
  });
}

void release_transport_fd(EventLoop* loop, int fd, ClosesWithLoop* transport) noexcept {
  if (loop == nullptr) return;
  loop->unwatch_reader(fd);
  loop->unwatch_writer(fd);
  loop->set_fd_owner(fd, nullptr);
  unregister_from_loop(*loop, transport);
}

std::exception_ptr os_error(int err) {
  try {
    throw_os_error(err);
  } catch (...) {
    return std::current_exception();
  }
}

std::exception_ptr current_error_unless_interrupt() {
  std::exception_ptr error = std::current_exception();
  if (is_interrupt(error)) std::rethrow_exception(error);
  return error;
}

void report_fatal_error(EventLoop& loop, const std::exception_ptr& error, const char* message,
                        const std::string& transport_repr, const BaseProtocol* protocol) {
  if (holds<OSError>(error)) {
    if (loop.get_debug()) {
      log(LogLevel::kDebug, transport_repr + ": " + message + ": " + describe_exception(error));
    }
    return;
  }
  ExceptionContext context;
  context.message = message;
  context.exception = error;
  context.details["transport"] = transport_repr;
  if (protocol != nullptr) context.details["protocol"] = demangle_type(typeid(*protocol));
  loop.call_exception_handler(context);
}

}  // namespace aio::internal
