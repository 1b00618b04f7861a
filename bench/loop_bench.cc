// Micro-benchmarks of the event-loop kernel (//loop:event_loop).
//
// Each benchmark iteration schedules a batch of callbacks or timers and then runs exactly one
// loop iteration: stop() before run_forever() makes the loop run what is ready at that point
// and return, as asyncio documents for loop.stop(). Batching amortizes the one poll syscall of
// every iteration, so the per-item counter ("per_item", seconds per callback or timer) shows the
// cost of scheduling plus dispatch; batch size 1 shows the full per-iteration overhead instead.
//
//   bazel run -c opt //bench:loop_bench -- --benchmark_min_time=0.2
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "loop/event_loop.h"

namespace {

using aio::bench::ReportItems;
using aio::bench::RunOneIteration;

// A benchmark that ran fewer callbacks than it scheduled measured the wrong thing.
void CheckRan(benchmark::State& state, std::int64_t ran, std::int64_t expected) {
  if (ran != expected) state.SkipWithError("callbacks ran != callbacks scheduled");
}

// call_soon(cb) + its dispatch, per callback; range(0) callbacks per loop iteration.
void BM_CallSoonDispatch(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  aio::EventLoop loop;
  std::int64_t ran = 0;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < batch; ++i) {
      loop.call_soon([&ran] { ++ran; });
    }
    RunOneIteration(loop);
  }
  benchmark::DoNotOptimize(ran);
  CheckRan(state, ran, state.iterations() * batch);
  ReportItems(state, ran);
  loop.close();
}
BENCHMARK(BM_CallSoonDispatch)->Arg(1)->Arg(16)->Arg(256)->Arg(4096);

// A callback that reschedules itself: one callback per loop iteration, so this is the cost of
// an otherwise idle run_once() (a zero-timeout poll) plus one call_soon.
void BM_CallSoonChain(benchmark::State& state) {
  aio::EventLoop loop;
  std::int64_t remaining = 0;
  std::int64_t ran = 0;
  struct Step {
    aio::EventLoop* loop;
    std::int64_t* remaining;
    std::int64_t* ran;
    void operator()() const {
      ++*ran;
      if (--*remaining > 0) {
        loop->call_soon(*this);
      } else {
        loop->stop();
      }
    }
  };
  constexpr std::int64_t kChain = 1000;
  for (auto _ : state) {
    remaining = kChain;
    loop.call_soon(Step{&loop, &remaining, &ran});
    loop.run_forever();
  }
  CheckRan(state, ran, state.iterations() * kChain);
  ReportItems(state, ran);
  loop.close();
}
BENCHMARK(BM_CallSoonChain);

// call_at(a deadline already passed) + its firing, per timer; range(0) timers per iteration.
void BM_TimerArmFire(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  aio::EventLoop loop;
  std::int64_t ran = 0;
  for (auto _ : state) {
    // One clock read per batch: the deadline is due by the time the loop looks at it.
    const double now = loop.time();
    for (std::int64_t i = 0; i < batch; ++i) {
      loop.call_at(now, [&ran] { ++ran; });
    }
    RunOneIteration(loop);
  }
  benchmark::DoNotOptimize(ran);
  CheckRan(state, ran, state.iterations() * batch);
  ReportItems(state, ran);
  loop.close();
}
BENCHMARK(BM_TimerArmFire)->Arg(1)->Arg(256)->Arg(4096);

// call_later(1 h) + cancel(), per timer, including the loop iteration that releases the
// cancelled timers. Under 100 queued timers they are popped from the top of the heap one by
// one; above, more than half cancelled triggers the bulk purge (heap rebuild).
void BM_TimerCancel(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  aio::EventLoop loop;
  std::int64_t ran = 0;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < batch; ++i) {
      aio::TimerHandle timer = loop.call_later(3600.0, [&ran] { ++ran; });
      timer.cancel();
    }
    RunOneIteration(loop);
  }
  CheckRan(state, ran, 0);
  ReportItems(state, state.iterations() * batch);
  loop.close();
}
BENCHMARK(BM_TimerCancel)->Arg(64)->Arg(1024);

// Arm + fire per timer, as BM_TimerArmFire with 256 per batch, while range(0) other timers
// wait far in the future: a due timer sifts up past log2(n) levels on push and down as many on
// pop, so the cost should grow with log(n), not n.
void BM_TimerSweep(benchmark::State& state) {
  constexpr std::int64_t kBatch = 256;
  const std::int64_t pending = state.range(0);
  aio::EventLoop loop;
  std::int64_t ran = 0;
  std::int64_t never = 0;
  // Distinct far deadlines so the pending timers form a real heap, not one of equal keys.
  const double base = loop.time() + 3600.0;
  for (std::int64_t i = 0; i < pending; ++i) {
    loop.call_at(base + static_cast<double>((i * 7919) % pending) * 1e-3, [&never] { ++never; });
  }
  for (auto _ : state) {
    const double now = loop.time();
    for (std::int64_t i = 0; i < kBatch; ++i) {
      loop.call_at(now, [&ran] { ++ran; });
    }
    RunOneIteration(loop);
  }
  CheckRan(state, ran, state.iterations() * kBatch);
  CheckRan(state, never, 0);
  ReportItems(state, ran);
  loop.close();  // releases the pending timers unfired
}
BENCHMARK(BM_TimerSweep)->RangeMultiplier(10)->Range(100, 1000000);

// call_soon_threadsafe from this thread while the loop runs on another, per call including
// the dispatch: each iteration posts range(0) callbacks and waits until the loop has run them
// all. Batch 1 is a cross-thread round trip (eventfd wakeup + poll); large batches show the
// queue's throughput. Real time, because the posting thread also waits.
//
// A batch that does not complete within kStallSeconds means the loop went to sleep with
// callbacks queued (a lost wakeup): the benchmark then reports an error instead of hanging, and
// pokes the loop through a pipe it watches so it can be stopped and closed cleanly.
void BM_CallSoonThreadsafe(benchmark::State& state) {
  constexpr double kStallSeconds = 1.0;
  const std::int64_t batch = state.range(0);
  aio::EventLoop loop;
  int kick[2];
  if (pipe2(kick, O_CLOEXEC | O_NONBLOCK) != 0) {
    state.SkipWithError("pipe2 failed");
    return;
  }
  loop.add_reader(kick[0], [fd = kick[0]] {
    char buffer[64];
    while (read(fd, buffer, sizeof buffer) > 0) {
    }
  });
  // Written by the loop thread only; read by this one to know when a batch is done.
  std::atomic<std::int64_t> ran{0};
  std::thread loop_thread([&loop] { loop.run_forever(); });
  std::int64_t posted = 0;
  bool stalled = false;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < batch; ++i) {
      loop.call_soon_threadsafe([&ran] {
        ran.store(ran.load(std::memory_order_relaxed) + 1, std::memory_order_release);
      });
    }
    posted += batch;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(kStallSeconds);
    while (ran.load(std::memory_order_acquire) != posted) {
      if (!stalled && std::chrono::steady_clock::now() > deadline) {
        stalled = true;
        [[maybe_unused]] ssize_t n = write(kick[1], "k", 1);
      }
      std::this_thread::yield();
    }
    if (stalled) {
      state.SkipWithError(
          "lost wakeup: the loop slept in poll with call_soon_threadsafe callbacks queued");
      break;
    }
  }
  loop.call_soon_threadsafe([&loop, fd = kick[0]] {
    loop.remove_reader(fd);
    loop.stop();
  });
  loop_thread.join();
  loop.close();
  close(kick[0]);
  close(kick[1]);
  if (stalled) return;
  CheckRan(state, ran.load(), posted);
  ReportItems(state, posted);
}
BENCHMARK(BM_CallSoonThreadsafe)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();

}  // namespace
