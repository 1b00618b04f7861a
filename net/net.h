// Everything of //net in one include: transports and protocols, connections, servers and the
// sock_* operations, and the streams API (open_connection, start_server, StreamReader...).
#ifndef AIO_NET_NET_H_
#define AIO_NET_NET_H_

#include "net/address.h"
#include "net/connection.h"
#include "net/datagram.h"
#include "net/file.h"
#include "net/pipes.h"
#include "net/protocols.h"
#include "net/sendfile.h"
#include "net/server.h"
#include "net/sock_ops.h"
#include "net/socket.h"
#include "net/socket_transport.h"
#include "net/streams.h"
#include "net/transports.h"

#endif  // AIO_NET_NET_H_
