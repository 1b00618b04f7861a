// A tour of the aio event loop: every kernel feature doing real work, one printed line per event.
//
//   bazel run //examples:demo
//
// Each step schedules its work, then runs the loop until one of its callbacks calls stop(), so
// the output reads in order. The program ends by itself in well under a second.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <any>
#include <chrono>
#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "dns/resolver.h"     // aio::dns: getaddrinfo/getnameinfo on the loop (c-ares)
#include "net/net.h"          // transports, protocols, servers, create_connection
#include "process/process.h"  // create_subprocess_exec, Process
#include "signals/signals.h"  // add_signal_handler, remove_signal_handler

import aio.loop;

// The callbacks whose type names show up in error messages live in a named namespace, so the
// messages read "Exception in callback demo::ParsePort()".
namespace demo {

// Throws for a port that is not a number: the exception handler demo's failing callback.
struct ParsePort {
  std::string text;
  void operator()() const {
    if (text.find_first_not_of("0123456789") != std::string::npos) {
      throw aio::ValueError("invalid port '" + text + "'");
    }
  }
};

// Fails the way I/O does: the default exception handler's demo callback.
struct FlushLog {
  void operator()() const { throw std::runtime_error("disk full"); }
};

}  // namespace demo

namespace {

// Every step runs under a watchdog timer, so a step that never calls stop() (a lost wakeup, a
// missed event) ends the demo with an error instead of hanging it.
constexpr double kStepTimeoutSeconds = 5.0;  // generous: sanitizer builds run it too

bool RunStep(aio::EventLoop& loop) {
  bool timed_out = false;
  aio::TimerHandle watchdog = loop.call_later(kStepTimeoutSeconds, [&] {
    timed_out = true;
    loop.stop();
  });
  loop.run_forever();
  watchdog.cancel();  // so it cannot fire during a later step
  if (timed_out) std::printf("!!       step did not finish within %.1f s\n", kStepTimeoutSeconds);
  return !timed_out;
}

void Title(const char* text) { std::printf("\n== %s\n", text); }

// 1. call_soon: FIFO order; a callback scheduled by a running callback waits for the next loop
// iteration, behind everything already queued (asyncio's rule).
bool CallSoonOrdering(aio::EventLoop& loop) {
  Title("call_soon runs callbacks in the order they were scheduled");
  for (std::string_view name : {"first", "second", "third"}) {
    loop.call_soon([&loop, name] {
      std::printf("soon     %s\n", name.data());
      if (name == "first") {
        loop.call_soon([&loop] {
          std::printf("soon     fourth (scheduled by first: ran in the next iteration)\n");
          loop.stop();
        });
      }
    });
  }
  return RunStep(loop);
}

// 2. call_later: timers fire in deadline order, not scheduling order; a cancelled one never does.
bool TimersInDeadlineOrder(aio::EventLoop& loop) {
  Title("call_later fires timers in deadline order; a cancelled timer never fires");
  const double start = loop.time();
  int fired = 0;
  for (int ms : {30, 10, 20}) {
    loop.call_later(std::chrono::milliseconds(ms), [&loop, &fired, start, ms] {
      std::printf("timer    %d ms timer fired after %.1f ms\n", ms, (loop.time() - start) * 1e3);
      if (++fired == 3) loop.stop();
    });
  }
  bool doomed_fired = false;
  aio::TimerHandle doomed =
      loop.call_later(std::chrono::milliseconds(15), [&doomed_fired] { doomed_fired = true; });
  doomed.cancel();
  std::printf(
      "timer    scheduled 30, 10, 20 ms; 15 ms scheduled then cancelled (cancelled() = %s)\n",
      doomed.cancelled() ? "true" : "false");
  bool ok = RunStep(loop);
  std::printf("timer    15 ms timer %s\n", doomed_fired ? "FIRED (bug)" : "never fired");
  return ok && !doomed_fired;
}

// Real work for the worker thread: the number of primes below `limit` (sieve of Eratosthenes).
int CountPrimes(int limit) {
  std::vector<bool> composite(limit, false);
  int count = 0;
  for (int i = 2; i < limit; ++i) {
    if (composite[i]) continue;
    ++count;
    for (long long j = 1LL * i * i; j < limit; j += i) composite[j] = true;
  }
  return count;
}

// 3. call_soon_threadsafe: the only loop method another thread may call. The worker computes off
// the loop thread and hands each result over; the callbacks then run on the loop's thread.
bool WorkerThread(aio::EventLoop& loop) {
  Title("a worker thread posts results with call_soon_threadsafe");
  const std::thread::id loop_thread = std::this_thread::get_id();
  constexpr int kChunks = 3;
  std::thread worker([&loop, loop_thread] {
    for (int chunk = 1; chunk <= kChunks; ++chunk) {
      const int limit = chunk * 100'000;
      const int primes = CountPrimes(limit);
      loop.call_soon_threadsafe([&loop, loop_thread, chunk, limit, primes] {
        std::printf("thread   result %d/%d: %d primes below %d (on the loop thread: %s)\n", chunk,
                    kChunks, primes, limit,
                    std::this_thread::get_id() == loop_thread ? "yes" : "no");
        if (chunk == kChunks) loop.stop();
      });
    }
  });
  bool ok = RunStep(loop);
  worker.join();
  return ok;
}

// 4. add_writer/add_reader: the writer sends one message each time the pipe is writable, then
// closes its end; the reader prints each line and stops watching at end of file.
bool PipeReaderWriter(aio::EventLoop& loop) {
  Title("add_writer / add_reader on a pipe");
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    std::perror("pipe2");
    return false;
  }
  const int read_fd = fds[0];
  const int write_fd = fds[1];
  const std::vector<std::string> messages = {"hello", "from the", "other end"};
  std::size_t next = 0;
  loop.add_writer(write_fd, [&loop, &messages, &next, write_fd] {
    const std::string line = messages[next] + "\n";
    // Under PIPE_BUF bytes, a pipe write is all or nothing; EAGAIN would mean "wait again".
    if (write(write_fd, line.data(), line.size()) < 0) return;
    std::printf("writer   fd %d writable: sent \"%s\"\n", write_fd, messages[next].c_str());
    if (++next == messages.size()) {
      // Unregister before closing: the loop must never watch a closed (reusable) fd number.
      loop.remove_writer(write_fd);
      close(write_fd);
      std::printf("writer   all sent: remove_writer, close -> the reader will see EOF\n");
    }
  });
  std::string pending;  // bytes of a line not complete yet
  loop.add_reader(read_fd, [&loop, &pending, read_fd] {
    char buffer[256];
    const ssize_t n = read(read_fd, buffer, sizeof buffer);
    if (n < 0) return;  // readiness is only a hint (EAGAIN): wait for the next event
    if (n == 0) {
      std::printf("reader   fd %d EOF: remove_reader, close\n", read_fd);
      loop.remove_reader(read_fd);
      close(read_fd);
      loop.stop();
      return;
    }
    pending.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
      std::printf("reader   fd %d readable: got  \"%s\"\n", read_fd,
                  pending.substr(0, end).c_str());
      pending.erase(0, end + 1);
    }
  });
  return RunStep(loop);
}

// 5. A callback that throws does not stop the loop: the exception goes to the exception handler
// (a custom one here), then the default handler, which logs through aio::log.
bool ExceptionHandlers(aio::EventLoop& loop) {
  Title("an exception in a callback goes to the exception handler");
  loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext& context) {
    std::printf("handler  \"%s\": %s\n", context.message.c_str(),
                aio::describe_exception(context.exception).c_str());
  });
  loop.call_soon(demo::ParsePort{"http"});
  loop.call_soon([&loop] {
    std::printf("soon     the next callback still runs\n");
    loop.stop();
  });
  bool ok = RunStep(loop);

  // Back to the default handler: it formats asyncio-style and logs; a sink shows it on stdout.
  loop.set_exception_handler({});
  aio::LogSink previous = aio::set_log_sink([](const aio::LogRecord& record) {
    std::string line(record.message);
    for (char& c : line) {
      if (c == '\n') c = '|';  // one line per event
    }
    std::printf("log      %s: %s\n", aio::log_level_name(record.level).data(), line.c_str());
  });
  loop.call_soon(demo::FlushLog{});
  loop.call_soon([&loop] { loop.stop(); });
  ok = RunStep(loop) && ok;
  aio::set_log_sink(std::move(previous));
  return ok;
}

// 6. Coroutines and tasks: asyncio's async/await as Coro<T> and co_await. Tasks run
// concurrently on the one loop thread; gather collects results in order; wait_for cancels what
// takes too long; run_in_executor moves blocking work to the default thread pool.
aio::Coro<std::string> Fetch(std::string name, double seconds) {
  std::printf("task     %s: started, sleeping %.0f ms\n", name.c_str(), seconds * 1000);
  co_await aio::sleep(seconds);
  std::printf("task     %s: done\n", name.c_str());
  co_return name + " ok";
}

aio::Coro<void> Stubborn() {
  try {
    co_await aio::sleep(3600);
  } catch (const aio::CancelledError&) {
    std::printf("task     stubborn: cancelled while sleeping (CancelledError caught, re-raised)\n");
    throw;
  }
}

aio::Coro<void> CoroutineTour(aio::EventLoop& loop) {
  std::vector<aio::Coro<std::string>> fetches;
  fetches.push_back(Fetch("slow", 0.03));
  fetches.push_back(Fetch("fast", 0.01));
  std::vector<std::string> results = co_await aio::gather(std::move(fetches));
  std::printf("gather   results in input order: [%s, %s]\n", results[0].c_str(),
              results[1].c_str());

  try {
    co_await aio::wait_for(Stubborn(), 0.02);
  } catch (const aio::TimeoutError&) {
    std::printf("wait_for TimeoutError after 20 ms; the inner task was cancelled and awaited\n");
  }

  auto loop_thread = std::this_thread::get_id();
  int primes = co_await loop.run_in_executor(nullptr, [loop_thread] {
    std::printf("executor counting primes on a pool thread (not the loop thread: %s)\n",
                std::this_thread::get_id() != loop_thread ? "yes" : "no");
    return CountPrimes(50000);
  });
  std::printf("executor %d primes below 50000, back on the loop thread\n", primes);
}

bool Coroutines(aio::EventLoop& loop) {
  Title("coroutines and tasks: gather, wait_for, run_in_executor");
  try {
    // The whole tour is bounded like every other step.
    loop.run_until_complete(aio::wait_for(CoroutineTour(loop), 2.0));
  } catch (const std::exception& e) {
    std::printf("!!       coroutine step failed: %s\n", e.what());
    return false;
  }
  return true;
}

// 7. loop.getaddrinfo: aio::dns resolves names on the loop itself with c-ares (no thread pool);
// "localhost" comes from /etc/hosts, as the C library would answer it, so nothing goes out.
aio::Coro<void> ResolveLocalhost(aio::EventLoop& loop) {
  std::vector<aio::dns::AddrInfo> entries =
      co_await aio::dns::getaddrinfo(loop, "localhost", std::nullopt, AF_UNSPEC, SOCK_STREAM);
  std::string addresses;
  for (const aio::dns::AddrInfo& entry : entries) {
    addresses += (addresses.empty() ? "" : ", ") + entry.host();
  }
  std::printf("dns      getaddrinfo(\"localhost\") -> %s\n", addresses.c_str());
}

bool Dns(aio::EventLoop& loop) {
  Title("getaddrinfo on the loop (aio::dns, c-ares)");
  try {
    loop.run_until_complete(aio::wait_for(ResolveLocalhost(loop), kStepTimeoutSeconds));
  } catch (const std::exception& e) {
    std::printf("!!       getaddrinfo failed: %s\n", e.what());
    return false;
  }
  return true;
}

// 8. A TCP server and a client on loopback with asyncio's Protocol API: the server upper-cases
// what it gets and closes after replying; the client prints its protocol's callbacks in order.
class UpperServer : public aio::Protocol {
 public:
  void connection_made(aio::Transport& transport) override { transport_ = &transport; }
  void data_received(std::span<const std::byte> data) override {
    std::string text(reinterpret_cast<const char*>(data.data()), data.size());
    for (char& c : text) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    transport_->write(text);
    transport_->close();  // flushes the reply first
  }

 private:
  aio::Transport* transport_ = nullptr;
};

class Client : public aio::Protocol {
 public:
  explicit Client(aio::Future<void> done) : done_(std::move(done)) {}
  void connection_made(aio::Transport& transport) override {
    std::printf("client   connection_made: connected to port %d\n",
                std::any_cast<aio::SocketAddress>(transport.get_extra_info("peername")).port());
    transport.write("hello, aio");
  }
  void data_received(std::span<const std::byte> data) override {
    std::printf("client   data_received: %.*s\n", static_cast<int>(data.size()),
                reinterpret_cast<const char*>(data.data()));
  }
  bool eof_received() override {
    std::printf("client   eof_received\n");
    return false;  // let the transport close
  }
  void connection_lost(std::exception_ptr) override {
    std::printf("client   connection_lost\n");
    done_.set_result();
  }

 private:
  aio::Future<void> done_;
};

aio::Coro<void> ServerAndClient(aio::EventLoop& loop) {
  aio::ServerRef server = co_await aio::create_server(
      loop, [] { return std::make_shared<UpperServer>(); }, "127.0.0.1", 0);
  std::uint16_t port = server->sockets().front().getsockname().port();
  std::printf("server   listening on 127.0.0.1 (port chosen by the kernel)\n");
  aio::Future<void> done = loop.create_future();
  co_await aio::create_connection(
      loop, [done] { return std::make_shared<Client>(done); }, "127.0.0.1", port);
  co_await done;
  server->close();
  co_await server->wait_closed();
  std::printf("server   closed\n");
}

bool Network(aio::EventLoop& loop) {
  Title("a TCP server and client (create_server, create_connection, Protocol)");
  try {
    loop.run_until_complete(aio::wait_for(ServerAndClient(loop), kStepTimeoutSeconds));
  } catch (const std::exception& e) {
    std::printf("!!       network step failed: %s\n", e.what());
    return false;
  }
  return true;
}

// 9. add_signal_handler: a Unix signal becomes an ordinary callback on the loop thread (the OS
// handler only writes the signal number to the loop's self-pipe). The demo sends itself SIGUSR1
// twice; the second run removes the handler, which puts SIGUSR1's default action back.
bool Signals(aio::EventLoop& loop) {
  Title("Unix signals (add_signal_handler, remove_signal_handler)");
  int received = 0;
  aio::add_signal_handler(loop, SIGUSR1, [&loop, &received] {
    std::printf("signal   SIGUSR1 #%d handled by a callback on the loop thread\n", ++received);
    if (received == 1) {
      std::printf("signal   kill(getpid(), SIGUSR1) again\n");
      kill(getpid(), SIGUSR1);
      return;
    }
    bool removed = aio::remove_signal_handler(loop, SIGUSR1);
    std::printf("signal   remove_signal_handler(SIGUSR1) -> %s\n", removed ? "true" : "false");
    loop.stop();
  });
  std::printf("signal   kill(getpid(), SIGUSR1)\n");
  kill(getpid(), SIGUSR1);
  return RunStep(loop) && received == 2;
}

// 10. create_subprocess_exec: a real program as a child, its stdin and stdout as streams on
// the loop. The loop learns of the exit from a pidfd (no SIGCHLD handler, no thread).
aio::Coro<void> ChildProcess() {
  aio::Process proc = co_await aio::create_subprocess_exec("tr", {"a-z", "A-Z"});
  std::printf("process  started tr (pid %d), writing to its stdin\n", static_cast<int>(proc.pid));
  auto [out, err] = co_await proc.communicate("hello from a child process");
  std::printf("process  read from its stdout: %s\n", out.c_str());
  std::printf("process  exited with return code %d\n", co_await proc.wait());
}

bool Subprocess(aio::EventLoop& loop) {
  Title("a child process (create_subprocess_exec, communicate, wait)");
  try {
    loop.run_until_complete(aio::wait_for(ChildProcess(), kStepTimeoutSeconds));
  } catch (const std::exception& e) {
    std::printf("!!       subprocess step failed: %s\n", e.what());
    return false;
  }
  return true;
}

// 11. close() releases the loop's resources (the resolver too); a closed loop refuses new work.
bool StopAndClose(aio::EventLoop& loop) {
  Title("stop and close");
  loop.close();
  std::printf("close    is_running() = %s, is_closed() = %s\n",
              loop.is_running() ? "true" : "false", loop.is_closed() ? "true" : "false");
  try {
    loop.call_soon([] {});
  } catch (const aio::RuntimeError& error) {
    std::printf("close    call_soon on a closed loop: RuntimeError(\"%s\")\n", error.what());
    return true;
  }
  return false;
}

}  // namespace

int main() {
  aio::EventLoop loop;
  std::printf("aio demo: event loop using the %s poller\n",
              std::string(loop.poller_name()).c_str());
  for (bool (*step)(aio::EventLoop&) :
       {CallSoonOrdering, TimersInDeadlineOrder, WorkerThread, PipeReaderWriter, ExceptionHandlers,
        Coroutines, Dns, Network, Signals, Subprocess, StopAndClose}) {
    if (!step(loop)) {
      // Discard what the failed step left scheduled without running it: those callbacks refer
      // to the step's local variables, which are gone.
      loop.close();
      std::printf("\nFAILED\n");
      return 1;
    }
  }
  std::printf("\ndone\n");
  return 0;
}
