// The `context` dict asyncio passes to exception handlers, as a struct.
#ifndef AIO_LOOP_EXCEPTION_CONTEXT_H_
#define AIO_LOOP_EXCEPTION_CONTEXT_H_

#include <any>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <source_location>
#include <string>
#include <string_view>
#include <utility>

#include "loop/handle.h"

namespace aio {

class EventLoop;

// One key of the context: the object itself where there is one (a handler can close the
// transport or compare it with its own), and its printable form, which the default handler logs.
struct ContextValue {
  ContextValue() = default;
  ContextValue(std::string text) : repr(std::move(text)) {}  // NOLINT: a plain description
  ContextValue(const char* text) : repr(text) {}             // NOLINT
  template <class T>
  ContextValue(std::string text, T value) : repr(std::move(text)), object(std::move(value)) {}

  std::string repr;
  // Empty, or what aio puts there: internal::Ref<BaseTransport> for 'transport',
  // std::shared_ptr<BaseProtocol> for 'protocol', std::shared_ptr<Socket> (a tracking view) for
  // 'socket', TaskRef for 'task'. Objects being destroyed (a task or future reported from its
  // destructor) have no object, only the description.
  std::any object;

  friend bool operator==(const ContextValue& value, std::string_view text) {
    return value.repr == text;
  }
  friend std::ostream& operator<<(std::ostream& out, const ContextValue& value) {
    return out << value.repr;
  }
};

struct ExceptionContext {
  // 'message': what went wrong. The default handler uses "Unhandled exception in event loop"
  // when it is empty.
  std::string message;
  // 'exception' (optional).
  std::exception_ptr exception;
  // 'handle' (optional): the handle whose callback failed.
  Handle handle;
  // The other keys of asyncio's context ('future', 'task', 'protocol', 'transport', 'socket',
  // ...), printed (their repr) in key order by the default handler.
  std::map<std::string, ContextValue> details;
  // 'source_traceback' (debug mode): where the failing object was created.
  std::optional<std::source_location> source_traceback;

  // The object stored under `key` if it is a T (context.get<internal::Ref<BaseTransport>>(
  // "transport")), else nullptr.
  template <class T>
  const T* get(const std::string& key) const {
    auto it = details.find(key);
    return it == details.end() ? nullptr : std::any_cast<T>(&it->second.object);
  }
};

// (loop, context), like asyncio's handler signature.
using ExceptionHandler = std::function<void(EventLoop&, const ExceptionContext&)>;

}  // namespace aio

#endif  // AIO_LOOP_EXCEPTION_CONTEXT_H_
