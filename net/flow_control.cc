#include "net/flow_control.h"

#include <exception>
#include <string>

#include "loop/event_loop.h"
#include "net/protocols.h"
#include "net/transport_util.h"

namespace aio::internal {

void WriteFlowControl::set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
  std::size_t new_high = high ? *high : low ? 4 * *low : kDefaultHigh;
  std::size_t new_low = low ? *low : new_high / 4;
  if (new_high < new_low) {
    throw ValueError("high (" + std::to_string(new_high) + ") must be >= low (" +
                     std::to_string(new_low) + ") must be >= 0");
  }
  high_ = new_high;
  low_ = new_low;
}

namespace {
void report(EventLoop& loop, const char* message, const std::shared_ptr<BaseProtocol>& protocol,
            BaseTransport& transport) {
  std::exception_ptr error = std::current_exception();
  if (is_interrupt(error)) std::rethrow_exception(error);
  ExceptionContext context;
  context.message = message;
  context.exception = error;
  add_transport_and_protocol(context, transport, protocol);
  loop.call_exception_handler(context);
}
}  // namespace

void WriteFlowControl::maybe_pause(std::size_t buffered, EventLoop& loop,
                                   const std::shared_ptr<BaseProtocol>& protocol,
                                   BaseTransport& transport) {
  if (buffered <= high_ || paused_) return;
  paused_ = true;
  try {
    protocol->pause_writing();
  } catch (...) {
    report(loop, "protocol.pause_writing() failed", protocol, transport);
  }
}

void WriteFlowControl::maybe_resume(std::size_t buffered, EventLoop& loop,
                                    const std::shared_ptr<BaseProtocol>& protocol,
                                    BaseTransport& transport) {
  if (!paused_ || buffered > low_) return;
  paused_ = false;
  try {
    protocol->resume_writing();
  } catch (...) {
    report(loop, "protocol.resume_writing() failed", protocol, transport);
  }
}

}  // namespace aio::internal
