#include "net/stream_reader.h"

#include <algorithm>
#include <coroutine>
#include <utility>

#include "loop/errors.h"

namespace aio {

// The reader's state, shared by every handle and by each read in progress.
struct StreamReader::State {
  // std::string's inline (small string) capacity: 15 in libstdc++, 22 in libc++.
  static inline const std::size_t kInlineCapacity = std::string().capacity();

  EventLoop* loop;
  std::size_t limit;
  // The buffered bytes are data[head, data.size()): consuming from the front only moves `head`
  // (readline on a full buffer would otherwise move the whole rest each time); the consumed
  // prefix is dropped when it is at least as large as what is left (amortised O(1) a byte).
  std::string data;
  std::size_t head = 0;
  bool eof = false;
  std::optional<Future<void>> waiter;  // asyncio's _waiter: the one read waiting for data
  std::exception_ptr exception;
  internal::Ref<ReadTransport> transport;
  bool paused = false;

  std::size_t size() const { return data.size() - head; }
  std::string_view view() const { return std::string_view(data).substr(head); }
  void consume(std::size_t n) {
    head += n;
    if (head == data.size()) clear();
  }
  void clear() {
    data.clear();  // keeps the capacity for the next bytes
    head = 0;
  }
  std::string take(std::size_t n) {
    std::string out;
    // A read of everything (each message of a request/response exchange): hand the buffer over
    // instead of copying it. The next feed_data allocates a new one, which costs the allocation
    // the copy would have made, so this only saves the copy. Not for what fits in std::string's
    // inline buffer: copying that is free, and the buffer keeps its capacity.
    if (head == 0 && n == data.size() && n > kInlineCapacity) {
      out.swap(data);
      return out;
    }
    out.assign(data, head, n);
    consume(n);
    return out;
  }
  void append(std::string_view bytes) {
    if (head > 0 && head >= size()) {
      data.erase(0, head);
      head = 0;
    }
    data.append(bytes);
  }
  // Puts bytes a read had collected back in front (it failed or was cancelled).
  void prepend(std::string_view bytes) {
    data.replace(0, head, bytes);
    head = 0;
  }

  void wakeup_waiter() {
    if (!waiter) return;
    Future<void> woken = std::move(*waiter);
    waiter.reset();
    if (!woken.done()) woken.set_result();
  }
  void maybe_resume_transport() {
    if (paused && size() <= limit) {
      paused = false;
      transport->resume_reading();
    }
  }
  void maybe_pause_transport() {
    if (transport && !paused && size() > 2 * limit) {
      try {
        transport->pause_reading();
        paused = true;
      } catch (const NotImplementedError&) {
        transport.reset();  // it cannot pause: buffer everything, and stop trying
      }
    }
  }
  void raise_if_failed() const {
    if (exception) std::rethrow_exception(exception);
  }
};

namespace {

using State = StreamReader::State;

// asyncio's _wait_for_data: `co_await DataArrival(s, "read")` sleeps until feed_data, feed_eof
// or set_exception. An awaiter rather than a coroutine of its own: a read that waits once per
// message (readline in a request/response loop) then costs no extra coroutine frame and no
// extra resumption; the awaiter lives in the reading coroutine's frame for the wait.
class DataArrival {
 public:
  DataArrival(State& s, const char* func_name) : s_(s), waiter_(start(s, func_name)) {}
  bool await_ready() const noexcept { return waiter_.done(); }
  void await_suspend(std::coroutine_handle<> h) {
    try {
      internal::current_task_or_throw().suspend_on(waiter_.state(), h);
    } catch (...) {
      s_.waiter.reset();
      throw;
    }
  }
  // Resumed by the data, the error or a cancellation: in every case the wait is over.
  void await_resume() {
    s_.waiter.reset();
    internal::raise_pending_in_current_task();
    waiter_.take_result();
  }

 private:
  static Future<void> start(State& s, const char* func_name) {
    // One waiter only: with two, nobody could say which read gets the next bytes.
    if (s.waiter) {
      throw RuntimeError(std::string(func_name) +
                         "() called while another coroutine is already waiting for incoming data");
    }
    if (s.eof) throw InvalidStateError("_wait_for_data after EOF");
    // Waiting while paused would never end (readexactly(n) with n > limit needs more).
    if (s.paused) {
      s.paused = false;
      s.transport->resume_reading();
    }
    Future<void> waiter = s.loop->create_future();
    s.waiter = waiter;
    return waiter;
  }

  State& s_;
  Future<void> waiter_;
};

// One look at the buffer for readuntil: the chunk up to and including `separator` if it is
// there; nullopt if more data is needed. `offset` (kept across waits) is how far the buffer is
// known not to hold the separator. Throws LimitOverrunError / IncompleteReadError as asyncio.
std::optional<std::string> scan_until(State& s, std::string_view separator,
                                      std::ptrdiff_t& offset) {
  const auto seplen = static_cast<std::ptrdiff_t>(separator.size());
  const auto buflen = static_cast<std::ptrdiff_t>(s.size());
  std::ptrdiff_t isep = -1;
  if (buflen - offset >= seplen) {
    std::size_t found = s.view().find(separator, static_cast<std::size_t>(offset));
    if (found != std::string_view::npos) {
      isep = static_cast<std::ptrdiff_t>(found);
    } else {
      // The last seplen - 1 bytes may be the start of the separator: look at them again.
      offset = buflen + 1 - seplen;
      if (offset > static_cast<std::ptrdiff_t>(s.limit)) {
        throw LimitOverrunError("Separator is not found, and chunk exceed the limit",
                                static_cast<std::size_t>(offset));
      }
    }
  }
  if (isep < 0) {
    // A complete separator may have come with the last bytes before EOF: EOF is checked only
    // after the buffer.
    if (s.eof) {
      std::string chunk = s.take(s.size());
      throw IncompleteReadError(std::move(chunk), std::nullopt);
    }
    return std::nullopt;
  }
  if (isep > static_cast<std::ptrdiff_t>(s.limit)) {
    throw LimitOverrunError("Separator is found, but chunk is longer than limit",
                            static_cast<std::size_t>(isep));
  }
  std::string chunk = s.take(static_cast<std::size_t>(isep + seplen));
  s.maybe_resume_transport();
  return chunk;
}

Coro<std::string> readuntil_in(std::shared_ptr<State> s, std::string separator) {
  if (separator.empty()) throw ValueError("Separator should be at least one-byte string");
  s->raise_if_failed();
  std::ptrdiff_t offset = 0;
  while (true) {
    if (std::optional<std::string> chunk = scan_until(*s, separator, offset)) {
      co_return std::move(*chunk);
    }
    co_await DataArrival(*s, "readuntil");
  }
}

Coro<std::string> readline_in(std::shared_ptr<State> s) {
  constexpr std::string_view kSeparator = "\n";
  s->raise_if_failed();
  std::ptrdiff_t offset = 0;
  try {
    while (true) {
      if (std::optional<std::string> line = scan_until(*s, kSeparator, offset)) {
        co_return std::move(*line);
      }
      co_await DataArrival(*s, "readuntil");  // readline is readuntil in asyncio: its name
    }
  } catch (const IncompleteReadError& e) {
    co_return e.partial();  // EOF: the incomplete last line (or "")
  } catch (const LimitOverrunError& e) {
    // Drop the overlong line if its end is there, else everything buffered.
    std::string_view rest = s->view();
    if (e.consumed() < rest.size() && rest.substr(e.consumed()).starts_with(kSeparator)) {
      s->consume(e.consumed() + kSeparator.size());
    } else {
      s->clear();
    }
    s->maybe_resume_transport();
    throw ValueError(e.what());
  }
}

Coro<std::string> read_in(std::shared_ptr<State> s, std::ptrdiff_t n) {
  s->raise_if_failed();
  if (n == 0) co_return std::string();
  if (n > 0) {
    if (s->size() == 0 && !s->eof) co_await DataArrival(*s, "read");
    std::string data = s->take(std::min(s->size(), static_cast<std::size_t>(n)));
    s->maybe_resume_transport();
    co_return data;
  }
  // Until EOF, in blocks of `limit` (as asyncio: waiting for all of it at once would deadlock
  // a paused transport). Unlike asyncio, a failed or cancelled read(-1) puts what it had
  // collected back into the buffer, so that no byte is lost.
  std::string all;
  try {
    while (true) {
      s->raise_if_failed();
      if (s->size() == 0 && !s->eof) co_await DataArrival(*s, "read");
      if (s->size() == 0) break;
      std::size_t k = std::min(s->size(), s->limit);
      all.append(s->view().substr(0, k));
      s->consume(k);
      s->maybe_resume_transport();
    }
  } catch (...) {
    if (!all.empty()) {
      s->prepend(all);
      s->maybe_pause_transport();
    }
    throw;
  }
  co_return all;
}

Coro<std::string> readexactly_in(std::shared_ptr<State> s, std::ptrdiff_t n) {
  if (n < 0) throw ValueError("readexactly size can not be less than zero");
  s->raise_if_failed();
  if (n == 0) co_return std::string();
  const auto wanted = static_cast<std::size_t>(n);
  while (s->size() < wanted) {
    if (s->eof) {
      std::string partial = s->take(s->size());
      throw IncompleteReadError(std::move(partial), wanted);
    }
    co_await DataArrival(*s, "readexactly");
  }
  std::string data = s->take(wanted);
  s->maybe_resume_transport();
  co_return data;
}

}  // namespace

StreamReader::StreamReader(EventLoop& loop, std::size_t limit) {
  // The line length limit is a security feature; it also doubles as half the buffer limit.
  if (limit == 0) throw ValueError("Limit cannot be <= 0");
  state_ = std::make_shared<State>();
  state_->loop = &loop;
  state_->limit = limit;
}

// The public reads hand the coroutine its own reference to the state: the frame is created
// here (Coro is lazy), so the read stays valid even if this handle goes first.
Coro<std::string> StreamReader::read(std::ptrdiff_t n) { return read_in(state_, n); }
Coro<std::string> StreamReader::readline() { return readline_in(state_); }
Coro<std::string> StreamReader::readexactly(std::ptrdiff_t n) { return readexactly_in(state_, n); }
Coro<std::string> StreamReader::readuntil(std::string separator) {
  return readuntil_in(state_, std::move(separator));
}

bool StreamReader::at_eof() const { return state_->eof && state_->size() == 0; }

std::exception_ptr StreamReader::exception() const { return state_->exception; }

void StreamReader::set_exception(std::exception_ptr error) {
  State& s = *state_;
  s.exception = error;
  if (!s.waiter) return;
  Future<void> waiter = std::move(*s.waiter);
  s.waiter.reset();
  if (!waiter.done()) waiter.set_exception(error);
}

void StreamReader::feed_data(std::span<const std::byte> data) {
  State& s = *state_;
  if (s.eof) throw InvalidStateError("feed_data after feed_eof");
  if (data.empty()) return;
  s.append(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  s.wakeup_waiter();
  s.maybe_pause_transport();
}

void StreamReader::feed_eof() {
  state_->eof = true;
  state_->wakeup_waiter();
}

void StreamReader::set_transport(ReadTransport& transport) {
  if (state_->transport) throw InvalidStateError("Transport already set");
  state_->transport = internal::Ref<ReadTransport>::share(&transport);
}

std::size_t StreamReader::limit() const { return state_->limit; }
std::size_t StreamReader::buffered_size() const { return state_->size(); }

std::string StreamReader::repr() const {
  const State& s = *state_;
  std::string text = "<StreamReader";
  if (s.size() > 0) text += " " + std::to_string(s.size()) + " bytes";
  if (s.eof) text += " eof";
  if (s.limit != kDefaultStreamLimit) text += " limit=" + std::to_string(s.limit);
  if (s.waiter) text += " waiter=" + s.waiter->repr();
  if (s.exception) text += " exception=" + describe_exception(s.exception);
  if (s.transport) text += " transport=" + s.transport->repr();
  if (s.paused) text += " paused";
  return text + ">";
}

}  // namespace aio
