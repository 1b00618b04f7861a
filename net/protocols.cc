#include "net/protocols.h"

#include "net/transports.h"

namespace aio {

// Stream protocols are given stream or pipe transports (set_protocol checks the kind).
void Protocol::connection_made(BaseTransport& transport) {
  if (auto* stream = dynamic_cast<Transport*>(&transport)) {
    connection_made(*stream);
  } else if (auto* reader = dynamic_cast<ReadTransport*>(&transport)) {
    connection_made(*reader);
  } else {
    connection_made(dynamic_cast<WriteTransport&>(transport));
  }
}

void BufferedProtocol::connection_made(BaseTransport& transport) {
  connection_made(dynamic_cast<Transport&>(transport));
}

void DatagramProtocol::connection_made(BaseTransport& transport) {
  connection_made(dynamic_cast<DatagramTransport&>(transport));
}

}  // namespace aio
