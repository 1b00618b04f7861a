// The one logging seam of aio (asyncio's `logger`): the default exception handler and the
// debug-mode warnings write here. The default sink prints to stderr; users install their own.
#ifndef AIO_LOOP_LOGGING_H_
#define AIO_LOOP_LOGGING_H_

#include <functional>
#include <string_view>

namespace aio {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

std::string_view log_level_name(LogLevel level);

using LogSink = std::function<void(LogLevel, std::string_view message)>;

// Replaces the process-wide sink and returns the previous one; an empty sink restores stderr.
// Thread-safe; a sink may be called from any thread that logs, one call at a time.
LogSink set_log_sink(LogSink sink);

// Sends one record to the sink.
void log(LogLevel level, std::string_view message);

}  // namespace aio

#endif  // AIO_LOOP_LOGGING_H_
