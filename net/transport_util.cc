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
    struct sigaction current{};
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

std::exception_ptr os_error(int err) { return make_os_error(err); }

std::exception_ptr current_error_unless_interrupt() {
  std::exception_ptr error = std::current_exception();
  if (is_interrupt(error)) std::rethrow_exception(error);
  return error;
}

void add_transport_and_protocol(ExceptionContext& context, BaseTransport& transport,
                                const std::shared_ptr<BaseProtocol>& protocol) {
  context.details["transport"] =
      ContextValue(transport.repr(), internal::Ref<BaseTransport>::share(&transport));
  if (protocol) {
    const BaseProtocol& object = *protocol;
    context.details["protocol"] = ContextValue(demangle_type(typeid(object)), protocol);
  }
}

void log_os_error(EventLoop& loop, const std::exception_ptr& error, const char* message,
                  BaseTransport& transport) {
  if (loop.get_debug()) {
    log(LogLevel::kDebug, transport.repr() + ": " + message + ": " + describe_exception(error),
        error);
  }
}

void report_fatal_error(EventLoop& loop, const std::exception_ptr& error, const char* message,
                        BaseTransport& transport, const std::shared_ptr<BaseProtocol>& protocol) {
  if (holds<OSError>(error)) {
    log_os_error(loop, error, message, transport);
    return;
  }
  ExceptionContext context;
  context.message = message;
  context.exception = error;
  add_transport_and_protocol(context, transport, protocol);
  loop.call_exception_handler(context);
}

}  // namespace aio::internal
