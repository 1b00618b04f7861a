// The one logging seam of aio (asyncio's `logger`): the default exception handler and the
// debug-mode warnings write here. The default sink prints to stderr; users install their own.
#ifndef AIO_LOOP_LOGGING_H_
#define AIO_LOOP_LOGGING_H_

#include <exception>
#include <functional>
#include <string_view>

namespace aio {

struct ExceptionContext;

enum class LogLevel { kDebug, kInfo, kWarning, kError };

std::string_view log_level_name(LogLevel level);

// One log call (Python's LogRecord): valid only during the sink call.
struct LogRecord {
  LogLevel level;
  // The whole text; for records with an exception it already ends with its description.
  std::string_view message;
  // Python's exc_info: the error being reported, if any.
  std::exception_ptr exception;
  // Set on the default exception handler's record: the context it is logging.
  const ExceptionContext* context = nullptr;
};

using LogSink = std::function<void(const LogRecord& record)>;

// Replaces the process-wide sink and returns the previous one; an empty sink restores stderr.
// Thread-safe; a sink may be called from any thread that logs, one call at a time. A sink that
// throws loses that record (a line on stderr says so); the logging call itself never throws.
LogSink set_log_sink(LogSink sink);

// Sends one record to the sink.
void log(const LogRecord& record) noexcept;
inline void log(LogLevel level, std::string_view message,
                std::exception_ptr exception = nullptr) noexcept {
  log(LogRecord{level, message, std::move(exception), nullptr});
}

}  // namespace aio

#endif  // AIO_LOOP_LOGGING_H_
