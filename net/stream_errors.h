// The errors of asyncio's streams, in the style of loop/errors.h: EOFError (Python's builtin),
// IncompleteReadError (an EOFError carrying `partial` and `expected`) and LimitOverrunError
// (carrying `consumed`). Messages are CPython 3.8's.
#ifndef AIO_NET_STREAM_ERRORS_H_
#define AIO_NET_STREAM_ERRORS_H_

#include <cstddef>
#include <optional>
#include <string>

#include "loop/errors.h"

namespace aio {

// Python's EOFError: input ended where more was needed.
class EOFError : public internal::StdError<std::runtime_error> {
  using StdError::StdError;
};

// asyncio.IncompleteReadError: EOF came before the read could be satisfied. `partial` holds the
// bytes read before the end of the stream; `expected` is the size asked for (unset for
// readuntil, whose size was not known). Message: "3 bytes read on a total of 10 expected bytes"
// ("... of None expected bytes" when unset).
class IncompleteReadError : public EOFError {
 public:
  IncompleteReadError(std::string partial, std::optional<std::size_t> expected);
  const std::string& partial() const noexcept { return partial_; }
  std::optional<std::size_t> expected() const noexcept { return expected_; }

 private:
  std::string partial_;
  std::optional<std::size_t> expected_;
};

// asyncio.LimitOverrunError: the buffer limit was reached while looking for a separator.
// `consumed` is how many bytes would have to be consumed (they stay in the reader's buffer).
class LimitOverrunError : public internal::StdError<std::runtime_error> {
 public:
  LimitOverrunError(const std::string& message, std::size_t consumed)
      : StdError(message), consumed_(consumed) {}
  std::size_t consumed() const noexcept { return consumed_; }

 private:
  std::size_t consumed_;
};

}  // namespace aio

#endif  // AIO_NET_STREAM_ERRORS_H_
