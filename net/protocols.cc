#include "net/protocols.h"

#include "net/transports.h"

namespace aio {

// Stream protocols are only ever given stream transports (set_protocol checks the kind).
void Protocol::connection_made(BaseTransport& transport) {
  connection_made(dynamic_cast<Transport&>(transport));
}

void BufferedProtocol::connection_made(BaseTransport& transport) {
  connection_made(dynamic_cast<Transport&>(transport));
}

void DatagramProtocol::connection_made(BaseTransport& transport) {
  connection_made(dynamic_cast<DatagramTransport&>(transport));
}

}  // namespace aio
