// Runs a command and pipes its output through the loop, line by line, with a time limit
// (asyncio's create_subprocess_exec + StreamReader.readline + wait_for):
//
//   run_command [--timeout SECONDS] PROGRAM [ARGS...]
//
// Each line the child writes is printed as it arrives, "out: ..." for stdout and "err: ..." for
// stderr (both are read at the same time, so neither pipe can fill up and block the child).
// At the end: "exit N" and the child's status as ours, or "killed by signal N" (exit 128 + N),
// or, when the time limit is reached, the child is killed and "timeout after S s" (exit 124, as
// timeout(1)). A program that cannot be run: "cannot run PROGRAM: <error>" (exit 127).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "loop/loop.h"
#include "process/process.h"

namespace {

// Prints every line of `reader` with `prefix` until EOF (a last line without "\n" included).
aio::Coro<void> relay(aio::StreamReader reader, const char* prefix) {
  while (true) {
    std::string line = co_await reader.readline();
    if (line.empty()) co_return;
    if (line.back() != '\n') line += '\n';
    std::printf("%s%s", prefix, line.c_str());
    std::fflush(stdout);
  }
}

// Both streams to EOF, then the exit status.
aio::Coro<int> relay_all(aio::Process proc) {
  aio::EventLoop& loop = aio::get_running_loop();
  aio::Task<void> out = loop.create_task(relay(*proc.stdout, "out: "));
  aio::Task<void> err = loop.create_task(relay(*proc.stderr, "err: "));
  co_await out;
  co_await err;
  co_return co_await proc.wait();
}

aio::Coro<int> run_command(std::string program, std::vector<std::string> args, double timeout) {
  aio::Process proc = co_await aio::create_subprocess_exec(std::move(program), std::move(args),
                                                           {.stdin = aio::subprocess::DEVNULL});
  int code;
  try {
    code = co_await aio::wait_for(relay_all(proc), timeout);
  } catch (const aio::TimeoutError&) {
    code = -1000;
  }
  if (code == -1000) {
    proc.kill();
    co_await proc.wait();  // reaped: no zombie
    std::printf("timeout after %g s\n", timeout);
    co_return 124;
  }
  if (code < 0) {
    std::printf("killed by signal %d\n", -code);
    co_return 128 - code;
  }
  std::printf("exit %d\n", code);
  co_return code;
}

}  // namespace

int main(int argc, char** argv) {
  double timeout = 10.0;
  int first = 1;
  if (argc > 2 && std::strcmp(argv[1], "--timeout") == 0) {
    timeout = std::atof(argv[2]);
    first = 3;
  }
  if (first >= argc || timeout <= 0) {
    std::fprintf(stderr, "usage: %s [--timeout SECONDS] PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  std::vector<std::string> args(argv + first + 1, argv + argc);
  try {
    return aio::run(run_command(argv[first], std::move(args), timeout));
  } catch (const std::exception& error) {
    std::printf("cannot run %s: %s\n", argv[first], error.what());
    return 127;
  }
}
