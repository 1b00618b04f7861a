// Coroutines that tests of tasks, waiting and combinators keep needing.
#ifndef AIO_TESTING_CORO_TEST_UTIL_H_
#define AIO_TESTING_CORO_TEST_UTIL_H_

#include <string>

#include "loop/errors.h"
#include "loop/task.h"

namespace aio::testing {

// Sleeps `delay` seconds, then returns `value`.
inline Coro<int> value_after(double delay, int value) {
  co_await sleep(delay);
  co_return value;
}

// Sleeps `delay` seconds, then throws ValueError(message).
inline Coro<int> fail_after(double delay, std::string message) {
  co_await sleep(delay);
  throw ValueError(message);
}

}  // namespace aio::testing

#endif  // AIO_TESTING_CORO_TEST_UTIL_H_
