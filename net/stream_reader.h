// aio::StreamReader: asyncio.StreamReader, a buffer of received bytes that coroutines read from
// (read, readline, readexactly, readuntil), fed by a protocol (feed_data / feed_eof /
// set_exception), pausing its transport when it holds too much.
//
// A StreamReader is a cheap handle: copies refer to the same reader (as Python references do),
// and a pending read keeps the reader alive by itself.
#ifndef AIO_NET_STREAM_READER_H_
#define AIO_NET_STREAM_READER_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "loop/event_loop.h"
#include "loop/future.h"
#include "loop/task.h"
#include "net/stream_errors.h"
#include "net/transports.h"

namespace aio {

// asyncio's _DEFAULT_LIMIT (2 ** 16): the longest line readline() accepts, and half of the
// buffer size above which the transport is paused.
inline constexpr std::size_t kDefaultStreamLimit = 64 * 1024;

class StreamReader {
 public:
  // ValueError("Limit cannot be <= 0") for a zero limit.
  explicit StreamReader(EventLoop& loop, std::size_t limit = kDefaultStreamLimit);

  // Up to `n` bytes as soon as at least one is there ("" at EOF; "" at once for n == 0). With
  // n < 0: everything until EOF (read in chunks of `limit`, so flow control keeps working).
  Coro<std::string> read(std::ptrdiff_t n = -1);
  // One line including its "\n"; at EOF the incomplete rest without it, or "". A line longer
  // than the limit raises ValueError with LimitOverrunError's message, after discarding the
  // line (when its "\n" was found) or the whole buffer.
  Coro<std::string> readline();
  // Exactly `n` bytes; IncompleteReadError (partial, expected = n) if EOF comes first;
  // ValueError("readexactly size can not be less than zero") for n < 0.
  Coro<std::string> readexactly(std::ptrdiff_t n);
  // Data up to and including `separator`. EOF first: IncompleteReadError (partial = the whole
  // buffer, which is cleared; expected unset). More than `limit` bytes before the separator:
  // LimitOverrunError, the data stays buffered. ValueError("Separator should be at least
  // one-byte string") for an empty separator.
  Coro<std::string> readuntil(std::string separator = "\n");

  // True once feed_eof() was called and the buffer is empty.
  bool at_eof() const;
  // What the reads raise from now on (null: none); a waiting read gets it at once.
  std::exception_ptr exception() const;
  void set_exception(std::exception_ptr error);
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  void set_exception(E&& error) {
    set_exception(std::make_exception_ptr(std::forward<E>(error)));
  }

  // The protocol side. feed_data after feed_eof is an InvalidStateError ("feed_data after
  // feed_eof"); set_transport twice an InvalidStateError ("Transport already set").
  void feed_data(std::span<const std::byte> data);
  void feed_data(std::string_view data) {
    feed_data(std::as_bytes(std::span<const char>(data.data(), data.size())));
  }
  void feed_eof();
  void set_transport(ReadTransport& transport);

  std::size_t limit() const;
  // aio extension: how many bytes are buffered now (asyncio's len(reader._buffer)).
  std::size_t buffered_size() const;
  // "<StreamReader 5 bytes eof limit=10 waiter=<Future pending> transport=... paused>".
  std::string repr() const;

  struct State;  // internal

 private:
  std::shared_ptr<State> state_;
};

}  // namespace aio

#endif  // AIO_NET_STREAM_READER_H_
