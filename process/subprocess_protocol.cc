#include "process/subprocess_protocol.h"

#include "loop/errors.h"

namespace aio {

void SubprocessProtocol::connection_made(BaseTransport& transport) {
  auto* subprocess = dynamic_cast<SubprocessTransport*>(&transport);
  if (subprocess == nullptr) throw TypeError("a SubprocessProtocol needs a SubprocessTransport");
  connection_made(*subprocess);
}

}  // namespace aio
