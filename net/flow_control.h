// Write flow control shared by every writing transport: asyncio's high/low water marks and the
// exactly-once pause_writing()/resume_writing() alternation.
#ifndef AIO_NET_FLOW_CONTROL_H_
#define AIO_NET_FLOW_CONTROL_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace aio {
class BaseProtocol;
class BaseTransport;
class EventLoop;
}  // namespace aio

namespace aio::internal {

class WriteFlowControl {
 public:
  static constexpr std::size_t kDefaultHigh = 64 * 1024;

  // asyncio's rules: no high -> 4 * low (or 64 KiB); no low -> high / 4; ValueError if
  // high < low.
  void set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low);
  std::pair<std::size_t, std::size_t> limits() const noexcept { return {low_, high_}; }
  bool protocol_paused() const noexcept { return paused_; }

  // Calls protocol.pause_writing() when `buffered` went above high (once), or
  // resume_writing() when it fell to low or below (once). A throwing callback is reported to
  // the loop's exception handler (asyncio's messages; the context carries the transport and
  // the protocol) and the transport goes on.
  void maybe_pause(std::size_t buffered, EventLoop& loop,
                   const std::shared_ptr<BaseProtocol>& protocol, BaseTransport& transport);
  void maybe_resume(std::size_t buffered, EventLoop& loop,
                    const std::shared_ptr<BaseProtocol>& protocol, BaseTransport& transport);

 private:
  std::size_t high_ = kDefaultHigh;
  std::size_t low_ = kDefaultHigh / 4;
  bool paused_ = false;
};

}  // namespace aio::internal

#endif  // AIO_NET_FLOW_CONTROL_H_
