// Spawn + wait of /bin/true on libuv (Debian's libuv1-dev): uv_spawn with an exit callback, the
// way Node's child_process does it (libuv reaps on SIGCHLD through its signal pipe). The peer of
// bench/process's aio and asyncio programs; prints the same line:
//
//   peer=libuv mode=sequential spawns=N wall_s=.. cpu_s=.. spawns_per_s=.. cpu_us_per_spawn=..
//
//   libuv_spawn [--count N] [--warmup N] [--inflight K]
//
// K children run at once (1 = sequential); each exit starts the next until N were started.
// cpu_s is this process's user+system time over the timed window (children excluded).
// Children inherit fds 0-2, as in the other peers.
#include <sys/resource.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct Run {
  uv_loop_t* loop;
  int count;
  int started = 0;
  int exited = 0;
};

void start_one(Run* run);

void on_exit(uv_process_t* process, int64_t status, int signal) {
  Run* run = static_cast<Run*>(process->data);
  if (status != 0 || signal != 0) {
    std::fprintf(stderr, "/bin/true: status %lld signal %d\n", static_cast<long long>(status),
                 signal);
    std::exit(1);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(process),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_process_t*>(handle); });
  ++run->exited;
  if (run->started < run->count) start_one(run);
}

void start_one(Run* run) {
  static char path[] = "/bin/true";
  static char* argv[] = {path, nullptr};
  static uv_stdio_container_t stdio[3] = {
      {UV_INHERIT_FD, {.fd = 0}}, {UV_INHERIT_FD, {.fd = 1}}, {UV_INHERIT_FD, {.fd = 2}}};
  uv_process_options_t options{};
  options.file = path;
  options.args = argv;
  options.exit_cb = on_exit;
  options.stdio = stdio;
  options.stdio_count = 3;
  auto* process = new uv_process_t;
  process->data = run;
  int rc = uv_spawn(run->loop, process, &options);
  if (rc != 0) {
    std::fprintf(stderr, "uv_spawn: %s\n", uv_strerror(rc));
    std::exit(1);
  }
  ++run->started;
}

void run_batch(uv_loop_t* loop, int count, int inflight) {
  Run run{loop, count};
  for (int i = 0; i < inflight && run.started < count; ++i) start_one(&run);
  uv_run(loop, UV_RUN_DEFAULT);
  if (run.exited != count) {
    std::fprintf(stderr, "%d of %d children reported\n", run.exited, count);
    std::exit(1);
  }
}

double cpu_now() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 2000, warmup = 100, inflight = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--count") == 0) {
      count = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--warmup") == 0) {
      warmup = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--inflight") == 0) {
      inflight = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: libuv_spawn [--count N] [--warmup N] [--inflight K]\n");
      return 2;
    }
  }
  if (count <= 0 || inflight <= 0 || warmup < 0) {
    std::fprintf(stderr, "--count and --inflight must be positive\n");
    return 2;
  }
  uv_loop_t* loop = uv_default_loop();
  if (warmup > 0) run_batch(loop, warmup, inflight);
  uint64_t wall0 = uv_hrtime();
  double cpu0 = cpu_now();
  run_batch(loop, count, inflight);
  double wall = (uv_hrtime() - wall0) / 1e9, cpu = cpu_now() - cpu0;
  uv_loop_close(loop);
  char mode[32];
  if (inflight == 1) {
    std::snprintf(mode, sizeof mode, "sequential");
  } else {
    std::snprintf(mode, sizeof mode, "inflight%d", inflight);
  }
  std::printf(
      "peer=libuv mode=%s spawns=%d wall_s=%.4f cpu_s=%.4f spawns_per_s=%.1f "
      "cpu_us_per_spawn=%.1f\n",
      mode, count, wall, cpu, count / wall, cpu / count * 1e6);
  return 0;
}
