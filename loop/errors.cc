#include "loop/errors.h"

#include <cxxabi.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#include <typeinfo>

namespace aio {
namespace {

std::string os_error_message(int err, const std::string& context, bool replaces_strerror) {
  // Python's OSError(text) has no errno: its message is the text alone.
  if (replaces_strerror)
    return err == 0 ? context : "[Errno " + std::to_string(err) + "] " + context;
  std::string text = "[Errno " + std::to_string(err) + "] " + std::strerror(err);
  return context.empty() ? text : text + ": " + context;
}

}  // namespace

namespace internal {
std::string demangle_type(const std::type_info& type) {
  const char* mangled = type.name();
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}
}  // namespace internal

OSError::OSError(int err, const std::string& what_arg, bool replaces_strerror)
    : StdError(std::error_code(err, std::generic_category())),
      message_(os_error_message(err, what_arg, replaces_strerror)) {}

namespace {

// Calls make(tag) with a std::type_identity of the OSError subclass Python raises for `err`.
template <class Make>
auto for_os_error_type(int err, Make&& make) {
  switch (err) {
    case EAGAIN:
    case EALREADY:
    case EINPROGRESS:
      return make(std::type_identity<BlockingIOError>{});
    case ECHILD:
      return make(std::type_identity<ChildProcessError>{});
    case EEXIST:
      return make(std::type_identity<FileExistsError>{});
    case ENOENT:
      return make(std::type_identity<FileNotFoundError>{});
    case EINTR:
      return make(std::type_identity<InterruptedError>{});
    case EISDIR:
      return make(std::type_identity<IsADirectoryError>{});
    case ENOTDIR:
      return make(std::type_identity<NotADirectoryError>{});
    case EACCES:
    case EPERM:
      return make(std::type_identity<PermissionError>{});
    case ESRCH:
      return make(std::type_identity<ProcessLookupError>{});
    case EPIPE:
    case ESHUTDOWN:
      return make(std::type_identity<BrokenPipeError>{});
    case ECONNABORTED:
      return make(std::type_identity<ConnectionAbortedError>{});
    case ECONNREFUSED:
      return make(std::type_identity<ConnectionRefusedError>{});
    case ECONNRESET:
      return make(std::type_identity<ConnectionResetError>{});
    default:
      return make(std::type_identity<OSError>{});
  }
}

}  // namespace

void throw_os_error(int err, const std::string& context, bool replaces_strerror) {
  for_os_error_type(err, [&]<class E>(std::type_identity<E>) -> int {
    throw E(err, context, replaces_strerror);
  });
  std::abort();  // unreachable: every branch throws
}

std::exception_ptr make_os_error(int err, const std::string& context, bool replaces_strerror) {
  return for_os_error_type(err, [&]<class E>(std::type_identity<E>) {
    return std::make_exception_ptr(E(err, context, replaces_strerror));
  });
}

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return "";
  try {
    std::rethrow_exception(error);
  } catch (const BaseException& e) {
    std::string message = e.what();
    return internal::demangle_type(typeid(e)) + (message.empty() ? "" : ": " + message);
  } catch (const std::exception& e) {
    std::string message = e.what();
    return internal::demangle_type(typeid(e)) + (message.empty() ? "" : ": " + message);
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return type ? internal::demangle_type(*type) : "unknown exception";
  }
}

std::string exception_message(const std::exception_ptr& error) {
  if (!error) return "";
  try {
    std::rethrow_exception(error);
  } catch (const BaseException& e) {
    return e.what();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "";
  }
}

}  // namespace aio
