#include "loop/logging.h"

#include <cstdio>
#include <mutex>
#include <utility>

namespace aio {
namespace {

std::mutex& sink_mutex() {
  static std::mutex mutex;
  return mutex;
}

LogSink& current_sink() {
  static LogSink sink;
  return sink;
}

}  // namespace

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

LogSink set_log_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  return std::exchange(current_sink(), std::move(sink));
}

void log(const LogRecord& record) noexcept {
  std::lock_guard<std::mutex> lock(sink_mutex());
  if (current_sink()) {
    try {
      current_sink()(record);
    } catch (...) {
      // As Python's Handler.handleError: the record is lost, the caller (the loop) goes on.
      std::fprintf(stderr, "aio: the log sink threw; a %s record was lost\n",
                   log_level_name(record.level).data());
    }
    return;
  }
  std::string_view name = log_level_name(record.level);
  std::fprintf(stderr, "aio %.*s: %.*s\n", static_cast<int>(name.size()), name.data(),
               static_cast<int>(record.message.size()), record.message.data());
}

}  // namespace aio
