// Everything //loop offers, for toolchains without modules: the same names `import aio.loop;`
// gives (the module interface, loop.cppm, exports what these headers declare).
#ifndef AIO_LOOP_LOOP_H_
#define AIO_LOOP_LOOP_H_

#include "loop/combinators.h"
#include "loop/concurrent_future.h"
#include "loop/coro.h"
#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/exception_context.h"
#include "loop/executor.h"
#include "loop/future.h"
#include "loop/handle.h"
#include "loop/locks.h"
#include "loop/logging.h"
#include "loop/policy.h"
#include "loop/poller.h"
#include "loop/queues.h"
#include "loop/run.h"
#include "loop/run_in_executor.h"
#include "loop/task.h"
#include "loop/thread_pool_executor.h"
#include "loop/waiting.h"

#endif  // AIO_LOOP_LOOP_H_
