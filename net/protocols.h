// asyncio's protocol classes: what a transport calls. Subclass one and override what you need.
//
// The contract every transport keeps: connection_made() once, first; then data (data_received,
// or get_buffer + buffer_updated); then at most one eof_received(); then connection_lost()
// once, last, never synchronously from close() or abort(). pause_writing() and
// resume_writing() alternate, starting with pause.
#ifndef AIO_NET_PROTOCOLS_H_
#define AIO_NET_PROTOCOLS_H_

#include <cstddef>
#include <exception>
#include <span>

namespace aio {

class BaseTransport;
class Transport;
class DatagramTransport;
class SocketAddress;

class BaseProtocol {
 public:
  virtual ~BaseProtocol() = default;
  // The transport stays valid until connection_lost() returns; keep a TransportRef to use it
  // longer.
  virtual void connection_made(BaseTransport& transport) {}
  // `error` is null for a regular EOF or close(), else what broke the connection.
  virtual void connection_lost(std::exception_ptr error) {}
  // The transport's write buffer went above the high-water mark.
  virtual void pause_writing() {}
  // ... and drained to the low-water mark or below.
  virtual void resume_writing() {}
};

class ReadTransport;
class WriteTransport;

// A stream protocol receiving copies of the data (asyncio.Protocol). It gets the transport as
// the most specific kind there is: a Transport for a socket, a ReadTransport for a read pipe, a
// WriteTransport for a write pipe (override the ones you use).
class Protocol : public BaseProtocol {
 public:
  virtual void connection_made(Transport& transport) {}
  virtual void connection_made(ReadTransport& transport) {}
  virtual void connection_made(WriteTransport& transport) {}
  // `data` is valid during the call only.
  virtual void data_received(std::span<const std::byte> data) {}
  // The peer sent EOF. Return true to keep the write side open (the transport is then closed
  // by the protocol), false to let the transport close itself.
  virtual bool eof_received() { return false; }

 private:
  void connection_made(BaseTransport& transport) final;
};

// A stream protocol that lends the transport its own buffer (asyncio.BufferedProtocol).
class BufferedProtocol : public BaseProtocol {
 public:
  virtual void connection_made(Transport& transport) {}
  // A buffer to receive into, at least 1 byte. `sizehint` is the recommended minimum size, or -1
  // for "any size" (what aio's stream transports pass, as CPython 3.8's). An empty buffer or an
  // exception aborts the connection.
  virtual std::span<std::byte> get_buffer(std::ptrdiff_t sizehint) = 0;
  // `nbytes` bytes were written at the start of the last buffer.
  virtual void buffer_updated(std::size_t nbytes) = 0;
  virtual bool eof_received() { return false; }

 private:
  void connection_made(BaseTransport& transport) final;
};

// A datagram protocol (asyncio.DatagramProtocol): UDP and UNIX datagram endpoints.
class DatagramProtocol : public BaseProtocol {
 public:
  virtual void connection_made(DatagramTransport& transport) {}
  // One datagram and its sender (valid during the call only). An empty datagram is a datagram.
  virtual void datagram_received(std::span<const std::byte> data, const SocketAddress& address) {}
  // A send or receive failed (e.g. ConnectionRefusedError from an ICMP port unreachable): not
  // fatal, the endpoint stays open.
  virtual void error_received(std::exception_ptr error) {}

 private:
  void connection_made(BaseTransport& transport) final;
};

}  // namespace aio

#endif  // AIO_NET_PROTOCOLS_H_
