// Spawn + wait of /bin/true on aio: create_subprocess_exec + Process::wait, the code a user
// writes (asyncio_spawn.py does the same on CPython). Prints the line the other peers print:
//
//   peer=aio-pidfd mode=sequential spawns=N wall_s=.. cpu_s=.. spawns_per_s=.. cpu_us_per_spawn=..
//
//   aio_spawn [--count N] [--warmup N] [--inflight K] [--watcher pidfd|threaded|safe|multiloop]
//
// K children run at once (1 = sequential), each worker spawning the next when its child exits.
// --watcher picks the child watcher (set_child_watcher; pidfd is the default). cpu_s is this
// process's own user+system time over the timed window (its threads included, the children's
// not). Children inherit fds 0-2 (no pipes), as in the other peers.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "loop/loop.h"
#include "process/multi_loop_child_watcher.h"
#include "process/process.h"
#include "process/safe_child_watcher.h"
#include "process/threaded_child_watcher.h"
#include "process/watcher_policy.h"

namespace {

aio::Coro<void> spawn_and_wait() {
  aio::SubprocessOptions options;
  options.stdin = aio::subprocess::INHERIT;
  options.stdout = aio::subprocess::INHERIT;
  options.stderr = aio::subprocess::INHERIT;
  aio::Process child = co_await aio::create_subprocess_exec("/bin/true", {}, options);
  int code = co_await child.wait();
  if (code != 0) {
    std::fprintf(stderr, "/bin/true exited with %d\n", code);
    std::exit(1);
  }
}

aio::Coro<void> worker(int* started, int count) {
  while (*started < count) {
    ++*started;
    co_await spawn_and_wait();
  }
}

aio::Coro<void> run_batch(aio::EventLoop* loop, int count, int inflight) {
  int started = 0;
  std::vector<aio::Task<void>> workers;
  for (int i = 0; i < inflight && i < count; ++i) {
    workers.push_back(loop->create_task(worker(&started, count)));
  }
  for (aio::Task<void>& task : workers) co_await task;
}

double cpu_now() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double wall_now() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec + now.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 2000, warmup = 100, inflight = 1;
  std::string watcher_name = "pidfd";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--count") == 0) {
      count = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--warmup") == 0) {
      warmup = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--inflight") == 0) {
      inflight = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--watcher") == 0) {
      watcher_name = argv[i + 1];
    } else {
      std::fprintf(stderr,
                   "usage: aio_spawn [--count N] [--warmup N] [--inflight K] "
                   "[--watcher pidfd|threaded|safe|multiloop]\n");
      return 2;
    }
  }
  if (count <= 0 || inflight <= 0 || warmup < 0) {
    std::fprintf(stderr, "--count and --inflight must be positive\n");
    return 2;
  }
  aio::EventLoop loop;
  std::shared_ptr<aio::process::AbstractChildWatcher> watcher;
  if (watcher_name == "threaded") {
    watcher = std::make_shared<aio::process::ThreadedChildWatcher>();
  } else if (watcher_name == "safe") {
    watcher = std::make_shared<aio::process::SafeChildWatcher>();
  } else if (watcher_name == "multiloop") {
    watcher = std::make_shared<aio::process::MultiLoopChildWatcher>();
  } else if (watcher_name != "pidfd") {
    std::fprintf(stderr, "unknown watcher '%s'\n", watcher_name.c_str());
    return 2;
  }
  if (watcher != nullptr) {
    watcher->attach_loop(&loop);
    aio::process::set_child_watcher(watcher);
  }
  if (warmup > 0) loop.run_until_complete(run_batch(&loop, warmup, inflight));
  double wall0 = wall_now(), cpu0 = cpu_now();
  loop.run_until_complete(run_batch(&loop, count, inflight));
  double wall = wall_now() - wall0, cpu = cpu_now() - cpu0;
  if (watcher != nullptr) {
    aio::process::set_child_watcher(nullptr);
    watcher->close();
  }
  loop.close();
  std::string mode = inflight == 1 ? "sequential" : "inflight" + std::to_string(inflight);
  std::printf(
      "peer=aio-%s mode=%s spawns=%d wall_s=%.4f cpu_s=%.4f spawns_per_s=%.1f "
      "cpu_us_per_spawn=%.1f\n",
      watcher_name.c_str(), mode.c_str(), count, wall, cpu, count / wall, cpu / count * 1e6);
  return 0;
}
