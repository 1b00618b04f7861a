#include "net/stream_writer.h"

#include <utility>

#include "loop/combinators.h"
#include "net/stream_reader_protocol.h"

namespace aio {

struct StreamWriter::Shared {
  TransportRef transport;
  std::shared_ptr<StreamReaderProtocol> protocol;
  std::optional<StreamReader> reader;
};

namespace {

// drain() and wait_closed() take their own reference: the frame is created when the call is
// made (Coro is lazy), so they stay valid even if the writer handle goes first.
Coro<void> drain_in(std::shared_ptr<const StreamWriter::Shared> writer) {
  if (writer->reader) {
    if (std::exception_ptr error = writer->reader->exception()) std::rethrow_exception(error);
  }
  if (writer->transport->is_closing()) {
    // Let connection_lost run: without this yield, a `write(); co_await drain();` loop on a
    // closed connection would never see it, nor its error.
    co_await sleep(0);
  }
  if (std::optional<Future<void>> waiter = writer->protocol->drain_waiter()) co_await *waiter;
}

// Shielded, unlike asyncio: a cancelled wait_closed() (a timeout around it, say) must not cancel
// the connection's one close future, or every later wait_closed() would raise CancelledError.
Coro<void> wait_closed_in(Future<void> closed) { co_await shield(closed); }

}  // namespace

StreamWriter::StreamWriter(TransportRef transport, std::shared_ptr<StreamReaderProtocol> protocol,
                           std::optional<StreamReader> reader, EventLoop& loop)
    : transport_(transport),
      shared_(std::make_shared<const Shared>(
          Shared{std::move(transport), std::move(protocol), std::move(reader)})),
      loop_(&loop) {}

void StreamWriter::writelines(const std::vector<std::string_view>& pieces) {
  std::vector<std::span<const std::byte>> spans;
  spans.reserve(pieces.size());
  for (std::string_view piece : pieces) {
    spans.push_back(std::as_bytes(std::span<const char>(piece.data(), piece.size())));
  }
  transport_->writelines(spans);
}

Coro<void> StreamWriter::drain() { return drain_in(shared_); }

Coro<void> StreamWriter::wait_closed() { return wait_closed_in(shared_->protocol->closed()); }

std::string StreamWriter::repr() const {
  std::string text = "<StreamWriter transport=" + transport_->repr();
  if (shared_->reader) text += " reader=" + shared_->reader->repr();
  return text + ">";
}

}  // namespace aio
