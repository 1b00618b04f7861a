#include "loop/errors.h"

#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <memory>
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

void throw_os_error(int err, const std::string& context, bool replaces_strerror) {
  switch (err) {
    case EAGAIN:
    case EALREADY:
    case EINPROGRESS:
      throw BlockingIOError(err, context, replaces_strerror);
    case ECHILD:
      throw ChildProcessError(err, context, replaces_strerror);
    case EEXIST:
      throw FileExistsError(err, context, replaces_strerror);
    case ENOENT:
      throw FileNotFoundError(err, context, replaces_strerror);
    case EINTR:
      throw InterruptedError(err, context, replaces_strerror);
    case EISDIR:
      throw IsADirectoryError(err, context, replaces_strerror);
    case ENOTDIR:
      throw NotADirectoryError(err, context, replaces_strerror);
    case EACCES:
    case EPERM:
      throw PermissionError(err, context, replaces_strerror);
    case ESRCH:
      throw ProcessLookupError(err, context, replaces_strerror);
    case EPIPE:
    case ESHUTDOWN:
      throw BrokenPipeError(err, context, replaces_strerror);
    case ECONNABORTED:
      throw ConnectionAbortedError(err, context, replaces_strerror);
    case ECONNREFUSED:
      throw ConnectionRefusedError(err, context, replaces_strerror);
    case ECONNRESET:
      throw ConnectionResetError(err, context, replaces_strerror);
    default:
      throw OSError(err, context, replaces_strerror);
  }
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
