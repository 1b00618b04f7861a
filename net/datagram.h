// Datagram endpoints: asyncio's loop.create_datagram_endpoint for UDP (IPv4, IPv6, names via
// //dns) and UNIX datagram sockets (bound paths, abstract names, unbound, socketpairs via sock).
#ifndef AIO_NET_DATAGRAM_H_
#define AIO_NET_DATAGRAM_H_

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "loop/event_loop.h"
#include "loop/task.h"
#include "net/datagram_transport.h"
#include "net/socket.h"

namespace aio {

using DatagramEndpoint = std::pair<DatagramTransportRef, std::shared_ptr<BaseProtocol>>;

// create_datagram_endpoint's keyword arguments. IP addresses are (host, port) pairs resolved
// through //dns; with family AF_UNIX they are paths (first of the pair; second ignored).
struct DatagramOptions {
  std::optional<std::pair<std::string, std::string>> local_addr;
  std::optional<std::pair<std::string, std::string>> remote_addr;
  int family = AF_UNSPEC;
  int proto = 0;
  int flags = 0;
  // asyncio's bpo-37228 fix: true is refused (ValueError); false or unset do nothing.
  std::optional<bool> reuse_address;
  bool reuse_port = false;
  bool allow_broadcast = false;  // SO_BROADCAST; with remote_addr the socket is not connected
  Socket sock;                   // an existing datagram socket (then nothing else may be set)
};

// asyncio's create_datagram_endpoint: every validation error asyncio raises; a socket that
// fails to bind or connect is closed; the first error is raised when every address fails.
Coro<DatagramEndpoint> create_datagram_endpoint(
    EventLoop& loop, std::function<std::shared_ptr<BaseProtocol>()> factory,
    DatagramOptions options);

}  // namespace aio

#endif  // AIO_NET_DATAGRAM_H_
