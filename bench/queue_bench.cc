// Benchmarks of asyncio's queues (//loop:queues).
//
// BM_QueueProducerConsumer is the program bench/queue_compare.py runs on CPython asyncio and on
// uvloop: one producer task puts N integers (`await q.put(i)`), one consumer task gets them
// (`await q.get()`), on a queue of the given maxsize. Unbounded, the producer never waits (it
// fills the queue in one step, then the consumer drains it); maxsize 64 hands over in bursts of
// about 64 items per task switch; maxsize 1 is one task switch (and one wake-up future) per item.
//
//   bazel run -c opt //bench:queue_bench -- --benchmark_min_time=0.2
#include <cstdint>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "loop/locks.h"
#include "loop/queues.h"

namespace {

using aio::bench::ReportItems;

constexpr std::int64_t kItemsPerRound = 10000;

aio::Coro<void> Producer(aio::Queue<std::int64_t>& queue, std::int64_t items) {
  for (std::int64_t i = 0; i < items; ++i) co_await queue.put(i);
}

aio::Coro<std::int64_t> Consumer(aio::Queue<std::int64_t>& queue, std::int64_t items) {
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < items; ++i) sum += co_await queue.get();
  co_return sum;
}

aio::Coro<std::int64_t> Round(aio::EventLoop& loop, aio::Queue<std::int64_t>& queue,
                              std::int64_t items) {
  aio::Task<void> producer = loop.create_task(Producer(queue, items));
  aio::Task<std::int64_t> consumer = loop.create_task(Consumer(queue, items));
  co_await producer;
  co_return co_await consumer;
}

// Per item: one put() and one get() between two tasks, plus its share of the task switches
// (range(0) is the maxsize; 0 = unbounded). Each benchmark iteration is a round of 10000 items.
void BM_QueueProducerConsumer(benchmark::State& state) {
  aio::EventLoop loop;
  aio::Queue<std::int64_t> queue(static_cast<std::size_t>(state.range(0)));
  const std::int64_t expected = kItemsPerRound * (kItemsPerRound - 1) / 2;
  for (auto _ : state) {
    if (loop.run_until_complete(Round(loop, queue, kItemsPerRound)) != expected) {
      state.SkipWithError("items were lost");
      break;
    }
  }
  ReportItems(state, state.iterations() * kItemsPerRound);
  loop.close();
}
BENCHMARK(BM_QueueProducerConsumer)->ArgName("maxsize")->Arg(0)->Arg(64)->Arg(1);

// Per item: put_nowait() + get_nowait() (no loop, no coroutine): the storage alone, 64 items
// in, 64 out, for the FIFO queue and the heapq-ordered priority queue.
template <class Q>
void BM_PutGetNowait(benchmark::State& state) {
  Q queue;
  std::int64_t sum = 0;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < 64; ++i) queue.put_nowait((i * 37) % 64);
    for (std::int64_t i = 0; i < 64; ++i) sum += queue.get_nowait();
  }
  benchmark::DoNotOptimize(sum);
  ReportItems(state, state.iterations() * 64);
}
BENCHMARK(BM_PutGetNowait<aio::Queue<std::int64_t>>);
BENCHMARK(BM_PutGetNowait<aio::PriorityQueue<std::int64_t>>);

// Per item: an uncontended `co_await lock.acquire(); lock.release();` inside one task (the
// program bench/lock_compare.py runs on CPython asyncio and uvloop).
aio::Coro<void> LockRound(aio::Lock& lock, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    co_await lock.acquire();
    lock.release();
  }
}

void BM_LockUncontended(benchmark::State& state) {
  aio::EventLoop loop;
  aio::Lock lock;
  for (auto _ : state) loop.run_until_complete(LockRound(lock, kItemsPerRound));
  ReportItems(state, state.iterations() * kItemsPerRound);
  loop.close();
}
BENCHMARK(BM_LockUncontended);

}  // namespace
