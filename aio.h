// All of aio in one include: the loop (futures, tasks, coroutines, locks, queues), //net
// (transports, servers, streams, pipes, sendfile), //dns, //tls, //signals and //process
// (subprocesses and every child watcher). Link @aio//:aio.
#ifndef AIO_AIO_H_
#define AIO_AIO_H_

#include "dns/resolver.h"
#include "loop/loop.h"
#include "net/net.h"
#include "process/fast_child_watcher.h"
#include "process/multi_loop_child_watcher.h"
#include "process/pidfd_child_watcher.h"
#include "process/process.h"
#include "process/safe_child_watcher.h"
#include "process/subprocess.h"
#include "process/subprocess_error.h"
#include "process/threaded_child_watcher.h"
#include "process/watcher_policy.h"
#include "signals/signals.h"
#include "tls/tls.h"

#endif  // AIO_AIO_H_
