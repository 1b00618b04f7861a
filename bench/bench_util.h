// What every aio benchmark needs: one loop iteration, and a per-item counter.
#ifndef AIO_BENCH_BENCH_UTIL_H_
#define AIO_BENCH_BENCH_UTIL_H_

#include <cstdint>

#include "benchmark/benchmark.h"
#include "loop/event_loop.h"

namespace aio::bench {

// Runs one loop iteration: everything ready now (callbacks, due timers, pending purges), as
// asyncio documents stop() before run_forever().
inline void RunOneIteration(EventLoop& loop) {
  loop.stop();
  loop.run_forever();
}

// Reports `items` as throughput and as seconds per item ("per_item").
inline void ReportItems(benchmark::State& state, std::int64_t items) {
  state.SetItemsProcessed(items);
  state.counters["per_item"] = benchmark::Counter(
      static_cast<double>(items), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace aio::bench

#endif  // AIO_BENCH_BENCH_UTIL_H_
