// asyncio's exception taxonomy as C++ exception types.
//
// Python separates BaseException (KeyboardInterrupt, SystemExit, and since 3.8 CancelledError)
// from Exception, so that `except Exception` does not swallow an interrupt or a cancellation.
// aio keeps that split: aio::BaseException is not a std::exception, so `catch (std::exception&)`
// behaves like `except Exception`. The ordinary errors derive from the matching standard type
// *and* from the marker aio::Exception, so they can be caught either way.
#ifndef AIO_LOOP_ERRORS_H_
#define AIO_LOOP_ERRORS_H_

#include <cerrno>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <typeinfo>

namespace aio {

// Root of every aio exception type; what() is the message, as str(exc) in Python.
class BaseException {
 public:
  virtual ~BaseException() = default;
  virtual const char* what() const noexcept = 0;
};

// Marker for the ordinary (non-interrupt, non-cancellation) errors, like Python's Exception.
class Exception : public BaseException {};

// The interrupt class: the event loop never reports these to the exception handler; they
// propagate out of run_forever()/run_until_complete() and leave the loop usable.
class Interrupt : public BaseException {
 public:
  explicit Interrupt(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

class KeyboardInterrupt : public Interrupt {
 public:
  KeyboardInterrupt() : Interrupt("") {}
};

class SystemExit : public Interrupt {
 public:
  explicit SystemExit(int code = 0) : Interrupt(std::to_string(code)), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// The operation was cancelled (a BaseException since Python 3.8, and here).
class CancelledError : public BaseException {
 public:
  explicit CancelledError(std::string message = "") : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

namespace internal {
// Joins a standard exception type with the aio::Exception marker; what() comes from Std.
template <class Std>
class StdError : public Std, public Exception {
 public:
  using Std::Std;
  const char* what() const noexcept override { return Std::what(); }
};
}  // namespace internal

class RuntimeError : public internal::StdError<std::runtime_error> {
  using StdError::StdError;
};
class ValueError : public internal::StdError<std::invalid_argument> {
  using StdError::StdError;
};
class TypeError : public internal::StdError<std::invalid_argument> {
  using StdError::StdError;
};
// Python's OverflowError: a number outside the range an argument allows.
class OverflowError : public internal::StdError<std::overflow_error> {
  using StdError::StdError;
};
class NotImplementedError : public internal::StdError<std::logic_error> {
  using StdError::StdError;
};
// asyncio.InvalidStateError: a Future/Task operation in the wrong state.
class InvalidStateError : public internal::StdError<std::logic_error> {
  using StdError::StdError;
};
// asyncio.TimeoutError (3.8: its own Exception subclass, not an OSError).
class TimeoutError : public internal::StdError<std::runtime_error> {
 public:
  TimeoutError() : StdError("") {}
  using StdError::StdError;
};

// asyncio.SendfileNotAvailableError: sendfile cannot be done natively (a RuntimeError).
class SendfileNotAvailableError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

// OSError: carries errno as a std::error_code in the generic category. Its message reads like
// Python's str(OSError): "[Errno 9] Bad file descriptor" or with a context prefix.
class OSError : public internal::StdError<std::system_error> {
 public:
  // what(): "[Errno N] <strerror>: <what_arg>", or with `replaces_strerror` "[Errno N] <what_arg>"
  // (Python's OSError(errno, text), e.g. "[Errno 111] Connect call failed ('127.0.0.1', 1)").
  explicit OSError(int err, const std::string& what_arg = "", bool replaces_strerror = false);
  int err() const noexcept { return code().value(); }
  const char* what() const noexcept override { return message_.c_str(); }

 protected:
  // For subclasses with their own error category (dns::ResolverError: socket.gaierror).
  OSError(std::error_code code, std::string message)
      : StdError(code), message_(std::move(message)) {}

 private:
  std::string message_;  // std::system_error would append the category text again
};

// The errno-specific OSError subclasses asyncio users catch. (The macros' argument is a class
// name, which cannot be parenthesized as bugprone-macro-parentheses asks.)
// NOLINTBEGIN(bugprone-macro-parentheses)
#define AIO_OS_ERROR_SUBCLASS(Name)                                                 \
  class Name : public OSError {                                                     \
   public:                                                                          \
    explicit Name(int err, const std::string& what_arg = "", bool replaces = false) \
        : OSError(err, what_arg, replaces) {}                                       \
  }
AIO_OS_ERROR_SUBCLASS(BlockingIOError);
AIO_OS_ERROR_SUBCLASS(ChildProcessError);
AIO_OS_ERROR_SUBCLASS(ConnectionError);
AIO_OS_ERROR_SUBCLASS(FileExistsError);
AIO_OS_ERROR_SUBCLASS(FileNotFoundError);
AIO_OS_ERROR_SUBCLASS(InterruptedError);
AIO_OS_ERROR_SUBCLASS(IsADirectoryError);
AIO_OS_ERROR_SUBCLASS(NotADirectoryError);
AIO_OS_ERROR_SUBCLASS(PermissionError);
AIO_OS_ERROR_SUBCLASS(ProcessLookupError);
#undef AIO_OS_ERROR_SUBCLASS

#define AIO_CONNECTION_ERROR_SUBCLASS(Name)                                         \
  class Name : public ConnectionError {                                             \
   public:                                                                          \
    explicit Name(int err, const std::string& what_arg = "", bool replaces = false) \
        : ConnectionError(err, what_arg, replaces) {}                               \
  }
AIO_CONNECTION_ERROR_SUBCLASS(BrokenPipeError);
AIO_CONNECTION_ERROR_SUBCLASS(ConnectionAbortedError);
AIO_CONNECTION_ERROR_SUBCLASS(ConnectionRefusedError);
AIO_CONNECTION_ERROR_SUBCLASS(ConnectionResetError);
#undef AIO_CONNECTION_ERROR_SUBCLASS
// NOLINTEND(bugprone-macro-parentheses)

// The one boundary where an errno becomes an exception: throws the OSError subclass Python
// would raise for `err` (ECONNREFUSED -> ConnectionRefusedError, ENOENT -> FileNotFoundError, ...).
// With `replaces_strerror`, `context` is the whole text after "[Errno N] ".
[[noreturn]] void throw_os_error(int err, const std::string& context = "",
                                 bool replaces_strerror = false);

// The same exception, made without throwing it (std::make_exception_ptr): for errors that go
// straight to a future or to connection_lost, where a throw and catch would only cost time.
std::exception_ptr make_os_error(int err, const std::string& context = "",
                                 bool replaces_strerror = false);

// Shorthand for throw_os_error(errno, context).
[[noreturn]] inline void throw_errno(const std::string& context = "") {
  throw_os_error(errno, context);
}

// "TypeName: message" for any exception (the last line of a Python traceback). The type name is
// demangled; a thrown non-class value gives its type, e.g. "int".
std::string describe_exception(const std::exception_ptr& error);

// The exception's message alone (what()), or "" when it has none.
std::string exception_message(const std::exception_ptr& error);

namespace internal {
// The demangled name of a type ("aio::ValueError", "main()::$_0").
std::string demangle_type(const std::type_info& type);
}  // namespace internal

// True if `error` holds an exception of type E (or derived from it).
template <class E>
bool holds(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

// True if `error` is an aio::Interrupt (KeyboardInterrupt/SystemExit stand-in).
inline bool is_interrupt(const std::exception_ptr& error) { return holds<Interrupt>(error); }

}  // namespace aio

#endif  // AIO_LOOP_ERRORS_H_
