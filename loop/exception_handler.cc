// The loop's error reporting: asyncio's call_exception_handler / default_exception_handler.
#include <string>

#include "loop/event_loop.h"
#include "loop/logging.h"

namespace aio {
namespace {

std::string where(const std::source_location& site) {
  return std::string(site.file_name()) + ":" + std::to_string(site.line()) + " in " +
         site.function_name();
}

}  // namespace

void EventLoop::default_exception_handler(const ExceptionContext& context) {
  std::string text =
      context.message.empty() ? "Unhandled exception in event loop" : context.message;
  // The keys other than message and exception, in sorted order, as asyncio prints them.
  std::map<std::string, std::string> keys;
  for (const auto& [key, value] : context.details) keys[key] = value.repr;
  if (context.handle) keys["handle"] = context.handle.repr();
  if (context.source_traceback) {
    keys["source_traceback"] = "Object created at " + where(*context.source_traceback);
  }
  for (const auto& [key, value] : keys) {
    text += "\n";
    text += key == "source_traceback" ? value : key + ": " + value;
  }
  if (context.exception) text += "\n" + describe_exception(context.exception);
  // The record carries the exception (Python's exc_info) and the context itself.
  log(LogRecord{LogLevel::kError, text, context.exception, &context});
}

void EventLoop::call_exception_handler(const ExceptionContext& context) {
  if (!exception_handler_) {
    try {
      default_exception_handler(context);
    } catch (const Interrupt&) {
      throw;
    } catch (...) {
      log(LogLevel::kError, "Exception in default exception handler\n" +
                                describe_exception(std::current_exception()));
    }
    return;
  }
  try {
    exception_handler_(*this, context);
  } catch (const Interrupt&) {
    throw;
  } catch (...) {
    std::exception_ptr error = std::current_exception();
    try {
      ExceptionContext nested;
      nested.message = "Unhandled error in exception handler";
      nested.exception = error;
      nested.details["context"] = context.message;
      default_exception_handler(nested);
    } catch (const Interrupt&) {
      throw;
    } catch (...) {
      log(LogLevel::kError,
          "Exception in default exception handler while handling an unexpected error in custom "
          "exception handler\n" +
              describe_exception(std::current_exception()));
    }
  }
}

void EventLoop::report_callback_error(State* state, std::exception_ptr error) {
  ExceptionContext context;
  context.message =
      "Exception in callback " + internal::demangle_type(*state->callback_type) + "()";
  context.exception = std::move(error);
  context.handle = Handle::borrow(state);
  if (debug_) context.source_traceback = state->where;
  call_exception_handler(context);
}

}  // namespace aio
