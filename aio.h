// All of aio in one include: the loop (futures, tasks, coroutines, locks, queues), //net
// (transports, servers, streams, pipes, sendfile), //dns, //tls and //signals. Link @aio//:aio.
#ifndef AIO_AIO_H_
#define AIO_AIO_H_

#include "dns/resolver.h"
#include "loop/loop.h"
#include "net/net.h"
#include "signals/signals.h"
#include "tls/tls.h"

#endif  // AIO_AIO_H_
