#include "loop/errors.h"

#include <cerrno>
#include <string>

#include "gtest/gtest.h"

namespace aio {
namespace {

TEST(ErrorsTest, OrdinaryErrorsAreStdExceptionsAndAioExceptions) {
  try {
    throw ValueError("bad value");
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad value");
  }
  try {
    throw RuntimeError("Event loop is closed");
  } catch (const Exception& e) {
    EXPECT_STREQ(e.what(), "Event loop is closed");
  }
}

TEST(ErrorsTest, InterruptsAndCancellationAreNotStdExceptions) {
  // Like Python's `except Exception`, catching std::exception must not swallow these.
  auto caught_as_std = [](auto thrower) {
    try {
      thrower();
    } catch (const std::exception&) {
      return true;
    } catch (const BaseException&) {
      return false;
    }
    return false;
  };
  EXPECT_FALSE(caught_as_std([] { throw KeyboardInterrupt(); }));
  EXPECT_FALSE(caught_as_std([] { throw SystemExit(2); }));
  EXPECT_FALSE(caught_as_std([] { throw CancelledError("stop"); }));
  EXPECT_TRUE(caught_as_std([] { throw TimeoutError(); }));
}

TEST(ErrorsTest, OsErrorMapsErrnoToPythonSubclasses) {
  EXPECT_THROW(throw_os_error(ECONNREFUSED), ConnectionRefusedError);
  EXPECT_THROW(throw_os_error(ECONNRESET), ConnectionResetError);
  EXPECT_THROW(throw_os_error(EPIPE), BrokenPipeError);
  EXPECT_THROW(throw_os_error(ENOENT), FileNotFoundError);
  EXPECT_THROW(throw_os_error(EAGAIN), BlockingIOError);
  EXPECT_THROW(throw_os_error(EPERM), PermissionError);
  try {
    throw_os_error(EBADF);
  } catch (const OSError& e) {
    EXPECT_EQ(e.err(), EBADF);
    EXPECT_EQ(e.code(), std::error_code(EBADF, std::generic_category()));
    EXPECT_STREQ(e.what(), "[Errno 9] Bad file descriptor");
  }
  try {
    throw_os_error(ECONNREFUSED, "connect");
  } catch (const ConnectionError& e) {
    EXPECT_STREQ(e.what(), "[Errno 111] Connection refused: connect");
  }
}

TEST(ErrorsTest, DescribeExceptionNamesTypeAndMessage) {
  EXPECT_EQ(describe_exception(std::make_exception_ptr(ValueError("boom"))),
            "aio::ValueError: boom");
  EXPECT_EQ(describe_exception(std::make_exception_ptr(std::runtime_error("x"))),
            "std::runtime_error: x");
  EXPECT_EQ(describe_exception(std::make_exception_ptr(42)), "int");
  EXPECT_EQ(describe_exception(std::make_exception_ptr(KeyboardInterrupt())),
            "aio::KeyboardInterrupt");
  EXPECT_EQ(describe_exception(nullptr), "");
  EXPECT_EQ(exception_message(std::make_exception_ptr(CancelledError("why"))), "why");
  EXPECT_TRUE(is_interrupt(std::make_exception_ptr(SystemExit(1))));
  EXPECT_FALSE(is_interrupt(std::make_exception_ptr(CancelledError())));
}

}  // namespace
}  // namespace aio
