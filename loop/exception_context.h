// The `context` dict asyncio passes to exception handlers, as a struct.
#ifndef AIO_LOOP_EXCEPTION_CONTEXT_H_
#define AIO_LOOP_EXCEPTION_CONTEXT_H_

#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <source_location>
#include <string>

#include "loop/handle.h"

namespace aio {

class EventLoop;

struct ExceptionContext {
  // 'message': what went wrong. The default handler uses "Unhandled exception in event loop"
  // when it is empty.
  std::string message;
  // 'exception' (optional).
  std::exception_ptr exception;
  // 'handle' (optional): the handle whose callback failed.
  Handle handle;
  // The other keys of asyncio's context ('future', 'task', 'protocol', 'transport', 'socket',
  // ...) as key -> string form, printed in key order by the default handler.
  std::map<std::string, std::string> details;
  // 'source_traceback' (debug mode): where the failing object was created.
  std::optional<std::source_location> source_traceback;
};

// (loop, context), like asyncio's handler signature.
using ExceptionHandler = std::function<void(EventLoop&, const ExceptionContext&)>;

}  // namespace aio

#endif  // AIO_LOOP_EXCEPTION_CONTEXT_H_
