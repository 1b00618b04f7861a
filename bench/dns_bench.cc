// DNS lookups per second: aio's resolver against what asyncio does.
//
// aio: `dns::getaddrinfo(loop, ...)`, c-ares on the loop, every lookup of a batch in flight at
// once on the one loop thread (a batch of 100 coroutines under gather()).
// system: asyncio's loop.getaddrinfo, which is `run_in_executor(None, socket.getaddrinfo, ...)`:
// the C library's getaddrinfo on a thread pool of asyncio's default size (min(32, CPUs + 4)),
// 100 lookups submitted at once and gathered on the loop.
//
// Two names: "localhost" (answered from /etc/hosts by both; no DNS query) and "bench.test", which
// only the dnsmasq this program starts on 127.0.0.1 knows (--host-record=bench.test,127.0.0.2).
// Every DNS query goes to that dnsmasq, never to /etc/resolv.conf's servers: the aio resolver
// gets dnsmasq's address before its first lookup, and each pool thread's C library resolver is
// pointed at it (testing::with_system_resolver_at) before the thread takes any job. Each lookup
// is AF_UNSPEC + SOCK_STREAM (one A and one AAAA query for a DNS name, as asyncio's
// create_connection asks), and every answer is checked. dnsmasq answers from its own records;
// c-ares 1.18 and glibc (no nscd) cache nothing.
//
//   bazel run -c opt //bench:dns_bench -- --benchmark_min_time=1 --benchmark_repetitions=3
//
// After the usual Google Benchmark lines comes a table: the best lookups/s of the repetitions
// for each name and side, the ratio aio / system, and the CPU time per lookup of that run (this
// process, all its threads; dnsmasq's own CPU is not counted).
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "dns/addrinfo.h"
#include "dns/resolver.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "loop/event_loop.h"
#include "loop/executor.h"
#include "loop/run_in_executor.h"
#include "testing/dnsmasq.h"

namespace {

using aio::dns::AddrInfo;

constexpr int kBatch = 100;  // lookups in flight at once

struct Name {
  const char* host;
  const char* address;  // what every answer must hold
};

constexpr Name kNames[] = {
    {"localhost", "127.0.0.1"},   // /etc/hosts
    {"bench.test", "127.0.0.2"},  // dnsmasq
};

// asyncio's default executor size: ThreadPoolExecutor's min(32, os.cpu_count() + 4).
int AsyncioDefaultWorkers() {
  return static_cast<int>(std::min(32u, std::max(1u, std::thread::hardware_concurrency()) + 4));
}

// A thread pool (ThreadPoolExecutor's behaviour) whose threads' C library resolver asks only the
// benchmark's dnsmasq: each worker runs inside testing::with_system_resolver_at, which sets the
// thread's `_res` before the first job.
class PinnedResolverPool final : public aio::Executor {
 public:
  PinnedResolverPool(int workers, int dns_port) {
    for (int i = 0; i < workers; ++i) {
      threads_.emplace_back([this, dns_port] {
        aio::testing::with_system_resolver_at(dns_port, /*timeout_s=*/2, [this] { Work(); });
      });
    }
  }
  ~PinnedResolverPool() override { shutdown(true); }
  PinnedResolverPool(const PinnedResolverPool&) = delete;
  PinnedResolverPool& operator=(const PinnedResolverPool&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }

  void execute(absl::AnyInvocable<void()> job) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) throw aio::RuntimeError("cannot schedule new futures after shutdown");
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
  }

  void shutdown(bool wait) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (!wait) return;
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  void Work() {
    for (;;) {
      absl::AnyInvocable<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and every accepted job done
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<absl::AnyInvocable<void()>> jobs_;  // guarded by mutex_
  bool stopping_ = false;                        // guarded by mutex_
  std::vector<std::thread> threads_;
};

// socket.getaddrinfo: the C library's answer as entries, or its error.
std::vector<AddrInfo> SystemGetaddrinfo(const char* host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int error = ::getaddrinfo(host, nullptr, &hints, &list);
  if (error != 0) throw aio::dns::ResolverError(error);
  std::vector<AddrInfo> entries = aio::dns::to_entries(list);
  freeaddrinfo(list);
  return entries;
}

// Whether every lookup of the batch answered with the name's address.
bool AllAnswered(const std::vector<std::vector<AddrInfo>>& results, const Name& name) {
  if (results.size() != kBatch) return false;
  for (const std::vector<AddrInfo>& entries : results) {
    if (std::none_of(entries.begin(), entries.end(),
                     [&](const AddrInfo& entry) { return entry.host() == name.address; })) {
      return false;
    }
  }
  return true;
}

aio::Coro<bool> AioBatch(aio::EventLoop& loop, const Name& name) {
  std::vector<aio::Coro<std::vector<AddrInfo>>> lookups;
  lookups.reserve(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    lookups.push_back(
        aio::dns::getaddrinfo(loop, std::string(name.host), std::nullopt, AF_UNSPEC, SOCK_STREAM));
  }
  co_return AllAnswered(co_await aio::gather(std::move(lookups)), name);
}

aio::Coro<bool> SystemBatch(aio::EventLoop& loop, aio::Executor& pool, const Name& name) {
  std::vector<aio::Future<std::vector<AddrInfo>>> lookups;
  lookups.reserve(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    lookups.push_back(
        loop.run_in_executor(&pool, [host = name.host] { return SystemGetaddrinfo(host); }));
  }
  co_return AllAnswered(co_await aio::gather(std::move(lookups)), name);
}

enum class Side { kAio, kSystem };

// CPU time of this whole process (every thread; not dnsmasq's), in seconds.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Per item: one getaddrinfo, with kBatch of them in flight (real time: the system side's work is
// on the pool's threads). "cpu_per_lookup" is the CPU time of the whole process (loop thread and
// pool threads) per lookup.
void BM_Lookups(benchmark::State& state, aio::EventLoop* loop, aio::Executor* pool, Side side,
                Name name) {
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    try {
      bool answered = side == Side::kAio
                          ? loop->run_until_complete(AioBatch(*loop, name))
                          : loop->run_until_complete(SystemBatch(*loop, *pool, name));
      if (!answered) {
        state.SkipWithError("a lookup did not answer with the expected address");
        break;
      }
    } catch (const std::exception& error) {
      state.SkipWithError(("lookup failed: " + std::string(error.what())).c_str());
      break;
    }
  }
  const std::int64_t lookups = state.iterations() * kBatch;
  aio::bench::ReportItems(state, lookups);
  if (lookups > 0) {
    state.counters["cpu_per_lookup"] =
        benchmark::Counter((ProcessCpuSeconds() - cpu_start) / static_cast<double>(lookups));
  }
}

const char* SideName(Side side) { return side == Side::kAio ? "aio" : "system"; }

std::string BenchmarkName(Side side, const Name& name) {
  return std::string(SideName(side)) + "/" + name.host;
}

// The console output, plus the best run (highest lookups/s) of each benchmark over its
// repetitions.
class TableReporter final : public benchmark::ConsoleReporter {
 public:
  TableReporter() : ConsoleReporter(OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      auto rate = run.counters.find("items_per_second");
      auto cpu = run.counters.find("cpu_per_lookup");
      if (rate == run.counters.end() || cpu == run.counters.end()) continue;
      Best& best = best_[run.run_name.function_name];
      if (rate->second > best.lookups_per_second) best = {rate->second, cpu->second};
    }
  }

  void PrintTable(int workers) const {
    std::printf(
        "\nDNS lookups per second, best run (%d lookups in flight; aio: c-ares on the loop "
        "thread;\nsystem: getaddrinfo on %d pool threads); CPU = this process, all threads\n",
        kBatch, workers);
    std::printf("%-12s %10s %10s %8s  %16s %16s\n", "name", "aio", "system", "ratio",
                "aio CPU/lookup", "system CPU/lookup");
    for (const Name& name : kNames) {
      Best aio = Find(BenchmarkName(Side::kAio, name));
      Best system = Find(BenchmarkName(Side::kSystem, name));
      char ratio[32] = "-";
      if (aio.lookups_per_second > 0 && system.lookups_per_second > 0) {
        std::snprintf(ratio, sizeof ratio, "%.2f",
                      aio.lookups_per_second / system.lookups_per_second);
      }
      std::printf("%-12s %10.0f %10.0f %8s  %13.1f us %13.1f us\n", name.host,
                  aio.lookups_per_second, system.lookups_per_second, ratio,
                  aio.cpu_per_lookup * 1e6, system.cpu_per_lookup * 1e6);
    }
  }

 private:
  struct Best {
    double lookups_per_second = 0;
    double cpu_per_lookup = 0;  // seconds, of that run
  };
  Best Find(const std::string& benchmark) const {
    auto found = best_.find(benchmark);
    return found == best_.end() ? Best{} : found->second;
  }

  std::map<std::string, Best> best_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  aio::testing::Dnsmasq dnsmasq({"--host-record=bench.test,127.0.0.2"});
  aio::EventLoop loop;
  // Before any lookup: the loop's resolver asks dnsmasq only, never /etc/resolv.conf's servers.
  aio::dns::Resolver::of(loop, aio::dns::ResolverOptions{.timeout_ms = 2000, .tries = 1})
      .set_servers(dnsmasq.csv());
  PinnedResolverPool pool(AsyncioDefaultWorkers(), dnsmasq.port());

  for (const Name& name : kNames) {
    for (Side side : {Side::kAio, Side::kSystem}) {
      benchmark::RegisterBenchmark(BenchmarkName(side, name).c_str(), BM_Lookups, &loop, &pool,
                                   side, name)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintTable(pool.workers());
  benchmark::Shutdown();

  pool.shutdown(true);
  loop.close();
  return 0;
}
