// aio's UDP echo server for the comparison: asyncio's usual shape, a DatagramProtocol whose
// datagram_received sends each datagram straight back to its sender through the transport.
//
//   aio_udp_echo_server [--host 127.0.0.1] [--port N]     prints "listening on PORT" first
//
// Python's equivalent:
//   class Echo(asyncio.DatagramProtocol):
//       def connection_made(self, transport): self.transport = transport
//       def datagram_received(self, data, addr): self.transport.sendto(data, addr)
//   await loop.create_datagram_endpoint(Echo, local_addr=(host, port))
#include <any>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "bench/udp/udp_server_args.h"
#include "loop/loop.h"
#include "net/net.h"

namespace {

class Echo : public aio::DatagramProtocol {
 public:
  void connection_made(aio::DatagramTransport& transport) override { transport_ = &transport; }
  void datagram_received(std::span<const std::byte> data,
                         const aio::SocketAddress& address) override {
    transport_->sendto(data, &address);
  }
  // A failed send (e.g. ECONNREFUSED from a client that went away) is not fatal.
  void error_received(std::exception_ptr) override {}

 private:
  aio::DatagramTransport* transport_ = nullptr;  // valid until connection_lost
};

aio::Coro<void> serve(const udp_bench::ServerArgs& args) {
  aio::EventLoop& loop = aio::get_running_loop();
  aio::DatagramOptions options;
  options.local_addr = {args.host, std::to_string(args.port)};
  options.family = AF_INET;
  auto [transport, protocol] = co_await aio::create_datagram_endpoint(
      loop, [] { return std::make_shared<Echo>(); }, std::move(options));
  auto address = std::any_cast<aio::SocketAddress>(transport->get_extra_info("sockname"));
  udp_bench::announce_port(address.port());
  co_await loop.create_future();  // serves until killed
}

}  // namespace

int main(int argc, char** argv) {
  udp_bench::ServerArgs args = udp_bench::parse_server_args(argc, argv, /*allow_batch=*/false);
  aio::run(serve(args));
}
