// What loop.sendfile's read+write fallback needs from a stream transport beyond the Transport
// API (asyncio's _FlowControlMixin._protocol_paused, and aio's rule that no user write
// interleaves with the fallback's blocks). A transport that implements it and is not a
// SocketTransport is asyncio's _SendfileMode.FALLBACK: TLS transports, which cannot hand
// their socket to sendfile(2) because every byte must be encrypted. //tls implements it
// without //net knowing about TLS.
#ifndef AIO_NET_SENDFILE_FALLBACK_TARGET_H_
#define AIO_NET_SENDFILE_FALLBACK_TARGET_H_

#include <cstddef>
#include <span>

namespace aio::internal {

class SendfileFallbackTarget {
 public:
  // The last flow-control call the protocol got was pause_writing.
  virtual bool protocol_writing_paused() const = 0;
  // From begin until end, write() is refused ("unable to write; sendfile is in progress");
  // the fallback writes its blocks with sendfile_write().
  virtual void begin_sendfile_fallback() = 0;
  virtual void end_sendfile_fallback() = 0;
  virtual void sendfile_write(std::span<const std::byte> data) = 0;

 protected:
  ~SendfileFallbackTarget() = default;
};

}  // namespace aio::internal

#endif  // AIO_NET_SENDFILE_FALLBACK_TARGET_H_
