// Micro-benchmarks of futures, coroutines and tasks (//loop:task).
//
// As in loop_bench.cc, each benchmark iteration runs exactly one loop iteration over a batch of
// independent work items, so the per-item counter excludes the one poll syscall per iteration;
// batch 1 shows the whole per-iteration cost.
//
//   bazel run -c opt //bench:task_bench -- --benchmark_min_time=0.2
#include <cstdint>
#include <vector>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "loop/task.h"

namespace {

using aio::bench::ReportItems;
using aio::bench::RunOneIteration;

// A task that awaits a fresh future `rounds` times; `slot` is where the current one waits.
aio::Coro<void> Waiter(aio::EventLoop& loop, aio::Future<void>* slot, std::int64_t* resumed) {
  while (true) {
    *slot = loop.create_future();
    co_await *slot;
    ++*resumed;
  }
}

// Per item: future.set_result() + the awaiting task resumed (done-callback scheduled, task
// step, co_await returns) + the task making and awaiting its next future.
void BM_FutureResolveResume(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  aio::EventLoop loop;
  std::vector<aio::Future<void>> slots(batch);
  std::vector<aio::Task<void>> tasks;
  tasks.reserve(batch);
  std::int64_t resumed = 0;
  for (std::int64_t i = 0; i < batch; ++i) {
    tasks.push_back(loop.create_task(Waiter(loop, &slots[i], &resumed)));
  }
  RunOneIteration(loop);  // every task now waits on its first future
  for (auto _ : state) {
    for (aio::Future<void>& slot : slots) slot.set_result();
    RunOneIteration(loop);
  }
  if (resumed != state.iterations() * batch) state.SkipWithError("not every task resumed");
  ReportItems(state, resumed);
  for (aio::Task<void>& task : tasks) task.cancel();
  RunOneIteration(loop);
  loop.close();
}
BENCHMARK(BM_FutureResolveResume)->Arg(1)->Arg(256)->Arg(4096);

aio::Coro<int> Trivial(int value) { co_return value; }

// Per item: create_task(coroutine) + its only step + completion + releasing the task.
void BM_CreateTaskToCompletion(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  aio::EventLoop loop;
  std::int64_t completed = 0;
  std::vector<aio::Task<int>> tasks;
  tasks.reserve(batch);
  for (auto _ : state) {
    for (std::int64_t i = 0; i < batch; ++i) tasks.push_back(loop.create_task(Trivial(1)));
    RunOneIteration(loop);
    for (aio::Task<int>& task : tasks) completed += task.result();
    tasks.clear();
  }
  if (completed != state.iterations() * batch) state.SkipWithError("not every task completed");
  ReportItems(state, completed);
  loop.close();
}
BENCHMARK(BM_CreateTaskToCompletion)->Arg(1)->Arg(256)->Arg(4096);

// Two tasks that hand control to each other through futures, like a ping-pong over a channel.
struct Court {
  aio::Future<void> ball[2];
  std::int64_t switches = 0;
};

aio::Coro<void> Player(aio::EventLoop& loop, Court* court, int side) {
  while (true) {
    court->ball[side] = loop.create_future();
    aio::Future<void> to_other = court->ball[1 - side];
    if (to_other && !to_other.done()) to_other.set_result();  // wake the other player
    co_await court->ball[side];
    ++court->switches;
  }
}

// Per item: one task switch (set_result on the other task's future, the other task resumed).
// range(0) independent pairs play at once, so one loop iteration carries range(0) switches.
void BM_TaskPingPong(benchmark::State& state) {
  const std::int64_t pairs = state.range(0);
  aio::EventLoop loop;
  std::vector<Court> courts(pairs);
  std::vector<aio::Task<void>> tasks;
  for (Court& court : courts) {
    tasks.push_back(loop.create_task(Player(loop, &court, 0)));
    tasks.push_back(loop.create_task(Player(loop, &court, 1)));
  }
  RunOneIteration(loop);
  std::int64_t before = 0;
  for (Court& court : courts) before += court.switches;
  for (auto _ : state) RunOneIteration(loop);
  std::int64_t switches = -before;
  for (Court& court : courts) switches += court.switches;
  if (switches < state.iterations() * pairs) state.SkipWithError("the players stalled");
  ReportItems(state, switches);
  for (aio::Task<void>& task : tasks) task.cancel();
  RunOneIteration(loop);
  loop.close();
}
BENCHMARK(BM_TaskPingPong)->Arg(1)->Arg(256)->Arg(4096);

}  // namespace
