// open_connection / start_server and their UNIX forms with aio at both ends: data both ways,
// both callback kinds, option pass-through, drain() and wait_closed() semantics, a failing
// callback, 100 MiB through readexactly, a reader far slower than its writer (memory stays
// bounded), and cancellation at each await point of a connection's life.
#include "net/streams.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "loop/task.h"
#include "net/address.h"
#include "net/sock_ops.h"
#include "net/transport_util.h"
#include "testing/loop_test_util.h"
#include "testing/peer_process.h"

namespace aio {
namespace {

using testing::error_message;

// A directory under /tmp for UNIX sockets (Bazel's TEST_TMPDIR is too long for sockaddr_un).
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/aio-streams-XXXXXX";
    if (mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::uint16_t port_of(const ServerRef& server) {
  return server->sockets().at(0).getsockname().port();
}

Coro<void> close_server(ServerRef server) {
  server->close();
  co_await wait_for(server->wait_closed(), 10);
}

class StreamsTest : public ::testing::Test {
 protected:
  template <class T>
  T run(Coro<T> coro, double timeout = 30) {
    return loop.run_until_complete(wait_for(std::move(coro), timeout));
  }
  // Runs `coro` on a loop of its own with virtual time (testing::virtual_time()): for scenarios
  // where timeouts race the peer's writes, both ends in this process, so the order is fixed by
  // the timers alone and no real time passes.
  template <class T>
  static T run_on_virtual_time(Coro<T> coro, double timeout = 30) {
    EventLoop virtual_loop(testing::virtual_time());
    return virtual_loop.run_until_complete(wait_for(std::move(coro), timeout));
  }
  EventLoop loop;
};

// A line echo handler, as a coroutine callback: echoes each line, says "bye\n" at EOF, closes.
Coro<void> echo_lines(StreamReader reader, StreamWriter writer) {
  while (true) {
    std::string line = co_await reader.readline();
    if (line.empty()) break;
    writer.write(line);
    co_await writer.drain();
  }
  writer.write("bye\n");
  co_await writer.drain();
  writer.close();
  co_await writer.wait_closed();
}

// One client conversation against an echo server: lines out and back, half-close, the
// server's last word, then the reader is at EOF and the writer closes.
Coro<std::vector<std::string>> converse(Streams streams, int lines) {
  auto [reader, writer] = std::move(streams);
  std::vector<std::string> got;
  for (int i = 0; i < lines; ++i) {
    writer.write("line " + std::to_string(i) + "\n");
    co_await writer.drain();
    got.push_back(co_await reader.readline());
  }
  EXPECT_TRUE(writer.can_write_eof());
  writer.write_eof();
  got.push_back(co_await reader.readline());
  got.push_back(co_await reader.read());
  EXPECT_TRUE(reader.at_eof());
  writer.close();
  EXPECT_TRUE(writer.is_closing());
  co_await writer.wait_closed();
  co_return got;
}

TEST_F(StreamsTest, TcpLineEchoWithACoroutineCallback) {
  run([]() -> Coro<void> {
    ServerRef server = co_await start_server(echo_lines, "127.0.0.1", 0);
    Streams streams = co_await open_connection("127.0.0.1", port_of(server));
    auto peer = std::any_cast<SocketAddress>(streams.second.get_extra_info("peername"));
    EXPECT_EQ(peer.port(), port_of(server));
    EXPECT_EQ(peer.host(), "127.0.0.1");
    std::vector<std::string> got = co_await converse(std::move(streams), 3);
    EXPECT_EQ(got, (std::vector<std::string>{"line 0\n", "line 1\n", "line 2\n", "bye\n", ""}));
    co_await close_server(server);
  }());
}

TEST_F(StreamsTest, UnixLineEchoWithAPlainCallbackThatStartsItsOwnTask) {
  TempDir dir;
  std::string path = dir.file("echo.sock");
  run([&]() -> Coro<void> {
    int calls = 0;
    std::vector<Task<void>> handlers;
    ServerRef server = co_await start_unix_server(
        [&](StreamReader reader, StreamWriter writer) {
          ++calls;  // a plain function: called in connection_made, before any data
          handlers.push_back(create_task(echo_lines(reader, writer)));
        },
        path);
    std::vector<std::string> got = co_await converse(co_await open_unix_connection(path), 2);
    EXPECT_EQ(got, (std::vector<std::string>{"line 0\n", "line 1\n", "bye\n", ""}));
    EXPECT_EQ(calls, 1);
    for (Task<void>& handler : handlers) co_await handler;
    co_await close_server(server);
  }());
}

TEST_F(StreamsTest, EveryOptionOfTheOptionStructsPassesThrough) {
  run([]() -> Coro<void> {
    ServerOptions server_options;
    server_options.hosts = {"127.0.0.1"};
    server_options.port = "0";
    server_options.reuse_port = true;
    server_options.backlog = 5;
    server_options.start_serving = false;
    ServerRef server = co_await start_server(echo_lines, std::move(server_options), 1024);
    EXPECT_FALSE(server->is_serving());
    co_await server->start_serving();
    int reuse = 0;
    socklen_t length = sizeof reuse;
    ::getsockopt(server->sockets().at(0).fileno(), SOL_SOCKET, SO_REUSEPORT, &reuse, &length);
    EXPECT_EQ(reuse, 1);

    ConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = std::to_string(port_of(server));
    options.family = AF_INET;
    options.local_addr = {"127.0.0.1", "0"};
    auto streams = co_await open_connection(std::move(options), 10);
    EXPECT_EQ(streams.first.limit(), 10u);
    auto local = std::any_cast<SocketAddress>(streams.second.get_extra_info("sockname"));
    EXPECT_EQ(local.host(), "127.0.0.1");
    co_await converse(std::move(streams), 1);

    // sock= : an already connected socket.
    Socket sock = Socket::create(AF_INET, SOCK_STREAM);
    co_await sock_connect(get_running_loop(), sock,
                          SocketAddress::ipv4("127.0.0.1", port_of(server)));
    ConnectionOptions with_sock;
    with_sock.sock = std::move(sock);
    co_await converse(co_await open_connection(std::move(with_sock)), 1);
    co_await close_server(server);
  }());
}

TEST_F(StreamsTest, ArgumentErrorsComeFromTheUnderlyingCalls) {
  EXPECT_EQ(error_message([&] { run(open_connection(ConnectionOptions{})); }),
            "host and port was not specified and no sock specified");
  EXPECT_EQ(error_message([&] { run(open_unix_connection(std::nullopt)); }),
            "no path and sock were specified");
  EXPECT_EQ(error_message([&] { run(start_server(ClientConnectedCallback(), "127.0.0.1", 0)); }),
            "start_server() needs a client_connected_cb");
  EXPECT_EQ(error_message([&] { run(start_server(echo_lines, "127.0.0.1", 0, 0)); }),
            "Limit cannot be <= 0");
  EXPECT_THROW(run(open_connection("127.0.0.1", testing::free_loopback_port())),
               ConnectionRefusedError);
}

// --- A failing callback ----------------------------------------------------------------------

TEST_F(StreamsTest, AFailingCoroutineCallbackIsReportedAndItsConnectionClosed) {
  std::vector<ExceptionContext> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  run([]() -> Coro<void> {
    ServerRef server = co_await start_server(
        [](StreamReader reader, StreamWriter writer) -> Coro<void> {
          co_await reader.readline();
          throw ValueError("handler failed");
        },
        "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    writer.write("hello\n");
    co_await writer.drain();
    EXPECT_EQ(co_await reader.read(), "");  // the server closed the connection
    writer.close();
    co_await writer.wait_closed();
    co_await close_server(server);
  }());
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].message, "Unhandled exception in client_connected_cb");
  EXPECT_EQ(exception_message(reported[0].exception), "handler failed");
  EXPECT_NE(reported[0].details.at("transport").repr.find("SocketTransport"), std::string::npos)
      << reported[0].details.at("transport");
  EXPECT_NE(reported[0].get<internal::Ref<BaseTransport>>("transport"), nullptr);
}

// --- drain() -----------------------------------------------------------------------------------

// A server whose handler reads nothing until `go` is set, then counts every byte to EOF.
struct StalledSink {
  Future<void> go;
  std::size_t received = 0;
  ClientConnectedCallback callback() {
    return [this](StreamReader reader, StreamWriter writer) -> Coro<void> {
      co_await go;
      while (true) {
        std::string chunk = co_await reader.read(1 << 20);
        if (chunk.empty()) break;
        received += chunk.size();
      }
      writer.close();
    };
  }
};

TEST_F(StreamsTest, DrainWaitsWhileWritingIsPausedAndSurvivesCancellation) {
  StalledSink sink{loop.create_future()};
  run([&]() -> Coro<void> {
    ServerRef server = co_await start_server(sink.callback(), "127.0.0.1", 0);
    int small_receive = 64 * 1024;
    ::setsockopt(server->sockets().at(0).fileno(), SOL_SOCKET, SO_RCVBUF, &small_receive,
                 sizeof small_receive);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    std::string chunk(1 << 20, 'x');
    std::size_t sent = 0;
    auto [low, high] = writer.transport().get_write_buffer_limits();
    EXPECT_EQ(high, 64u * 1024);
    // Fill the kernel buffers and then the transport's own, far above the high-water mark. Fixed
    // small kernel buffers (no autotuning: the accepted socket inherits the listener's) keep the
    // kernel from taking it all while we wait, so the transport stays paused until the sink reads.
    constexpr std::size_t kQueued = 4u << 20;
    auto sock = std::any_cast<std::shared_ptr<Socket>>(writer.get_extra_info("socket"));
    int small = 64 * 1024;
    ::setsockopt(sock->fileno(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    while (writer.transport().get_write_buffer_size() <= kQueued) {
      writer.write(chunk);
      sent += chunk.size();
      co_await sleep(0.001);
    }
    // A drain that is cancelled while waiting loses nothing, and the next one still waits.
    Task<void> cancelled = create_task(writer.drain());
    co_await sleep(0.01);
    EXPECT_FALSE(cancelled.done());
    cancelled.cancel();
    EXPECT_THROW(co_await cancelled, CancelledError);
    Task<void> drain = create_task(writer.drain());
    co_await sleep(0.05);
    EXPECT_FALSE(drain.done()) << "drain() returned while writing is paused";
    sink.go.set_result();
    co_await drain;
    EXPECT_LE(writer.transport().get_write_buffer_size(), low);
    writer.write_eof();
    EXPECT_EQ(co_await reader.read(), "");  // the sink closes after counting to EOF
    EXPECT_EQ(sink.received, sent);
    writer.close();
    co_await writer.wait_closed();
    co_await close_server(server);
  }());
}

TEST_F(StreamsTest, DrainOnAClosedConnectionRaisesConnectionResetError) {
  run([]() -> Coro<void> {
    ServerRef server = co_await start_server(echo_lines, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    co_await writer.drain();  // open and not paused: returns at once
    writer.close();
    try {
      co_await writer.drain();
      ADD_FAILURE() << "drain() after close() did not raise";
    } catch (const ConnectionResetError& e) {
      EXPECT_STREQ(e.what(), "Connection lost");
    }
    co_await writer.wait_closed();
    co_await close_server(server);
  }());
}

TEST_F(StreamsTest, DrainRaisesTheReadersException) {
  run([]() -> Coro<void> {
    ServerRef server = co_await start_server(echo_lines, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    reader.set_exception(ValueError("reader broke"));
    bool raised = false;
    try {
      co_await writer.drain();
    } catch (const ValueError& e) {
      raised = std::string(e.what()) == "reader broke";
    }
    EXPECT_TRUE(raised);
    writer.close();
    co_await writer.wait_closed();
    co_await close_server(server);
  }());
}

TEST_F(StreamsTest, APeerResetFailsReadsDrainAndWaitClosedWithTheError) {
  run([]() -> Coro<void> {
    ServerRef server = co_await start_server(
        [](StreamReader reader, StreamWriter writer) -> Coro<void> {
          co_await reader.readline();
          auto sock = std::any_cast<std::shared_ptr<Socket>>(writer.get_extra_info("socket"));
          linger reset{1, 0};  // close() now sends RST instead of FIN
          ::setsockopt(sock->fileno(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
          writer.transport().abort();
        },
        "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    writer.write("reset me\n");
    EXPECT_THROW(co_await reader.read(), ConnectionResetError);
    EXPECT_THROW(co_await writer.drain(), ConnectionResetError);
    EXPECT_THROW(co_await writer.wait_closed(), ConnectionResetError);
    EXPECT_TRUE(writer.is_closing());
    co_await close_server(server);
  }());
}

// --- Volume and a slow reader ----------------------------------------------------------------

// Byte `i` of block `k` of a test stream: neither periodic in a power of two nor constant.
char pattern_byte(std::size_t k, std::size_t i) {
  return static_cast<char>((k * 131 + i * 7 + i / 253) & 0xff);
}
std::string pattern_block(std::size_t k, std::size_t size) {
  std::string block(size, '\0');
  for (std::size_t i = 0; i < size; ++i) block[i] = pattern_byte(k, i);
  return block;
}

// A handler that writes `blocks` pattern blocks of `size` bytes (write + drain each), then
// closes; it records the largest write buffer it saw right after a write.
struct PatternSource {
  std::size_t blocks, size;
  std::size_t max_write_buffer = 0;
  ClientConnectedCallback callback() {
    return [this](StreamReader reader, StreamWriter writer) -> Coro<void> {
      for (std::size_t k = 0; k < blocks; ++k) {
        writer.write(pattern_block(k, size));
        max_write_buffer = std::max(max_write_buffer, writer.transport().get_write_buffer_size());
        co_await writer.drain();
      }
      writer.close();
      co_await writer.wait_closed();
    };
  }
};

TEST_F(StreamsTest, OneHundredMebibytesThroughReadexactlyArriveIntact) {
  constexpr std::size_t kBlock = 1 << 20;
  PatternSource source{100, kBlock};
  run(
      [&]() -> Coro<void> {
        ServerRef server = co_await start_server(source.callback(), "127.0.0.1", 0);
        auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
        std::size_t bad_blocks = 0;
        for (std::size_t k = 0; k < source.blocks; ++k) {
          std::string block = co_await reader.readexactly(kBlock);
          if (block != pattern_block(k, kBlock)) ++bad_blocks;
        }
        EXPECT_EQ(bad_blocks, 0u);
        EXPECT_EQ(co_await reader.read(), "");
        EXPECT_TRUE(reader.at_eof());
        writer.close();
        co_await writer.wait_closed();
        co_await close_server(server);
      }(),
      240);
}

// On virtual time: the reader's naps cost nothing, and since the clock moves only when the loop
// is idle, the writer has filled every buffer up to its limit before each read.
TEST_F(StreamsTest, AFarSlowerReaderKeepsMemoryBoundedByTheLimits) {
  constexpr std::size_t kLimit = 16 * 1024;
  constexpr std::size_t kBlock = 64 * 1024;
  PatternSource source{48, kBlock};  // 3 MiB
  std::size_t max_buffered = 0;
  bool saw_paused = false;
  run_on_virtual_time(
      [&]() -> Coro<void> {
        ServerRef server = co_await start_server(source.callback(), "127.0.0.1", 0);
        auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server), kLimit);
        std::string all;
        while (true) {
          max_buffered = std::max(max_buffered, reader.buffered_size());
          saw_paused = saw_paused || reader.repr().find(" paused") != std::string::npos;
          std::string piece = co_await reader.read(4096);
          if (piece.empty()) break;
          all += piece;
          co_await sleep(0.0002);  // far slower than loopback
        }
        EXPECT_EQ(all.size(), source.blocks * kBlock);
        std::size_t bad_blocks = 0;
        for (std::size_t k = 0; k < source.blocks; ++k) {
          if (all.compare(k * kBlock, kBlock, pattern_block(k, kBlock)) != 0) ++bad_blocks;
        }
        EXPECT_EQ(bad_blocks, 0u);
        writer.close();
        co_await writer.wait_closed();
        co_await close_server(server);
      }(),
      120);
  EXPECT_TRUE(saw_paused) << "the reader never paused its transport";
  // The reader pauses above 2 x limit; one recv (at most kMaxRead) may come on top.
  EXPECT_LE(max_buffered, 2 * kLimit + internal::kMaxRead);
  // The writer waits in drain() above the high-water mark (64 KiB): one block on top at most.
  EXPECT_LE(source.max_write_buffer, 64 * 1024 + kBlock);
}

// --- Cancellation at each await point ----------------------------------------------------------

TEST_F(StreamsTest, OpenConnectionAndStartServerCancelledAtAnyStepLeakNothing) {
  run([]() -> Coro<void> {
    ServerRef server = co_await start_server(echo_lines, "127.0.0.1", 0);
    int completed = 0, cancelled = 0;
    for (int steps = 0; steps < 12; ++steps) {
      Task<Streams> open = create_task(open_connection("127.0.0.1", port_of(server)));
      for (int i = 0; i < steps; ++i) co_await sleep(0);
      open.cancel();
      try {
        auto [reader, writer] = co_await open;
        ++completed;
        writer.close();
        co_await writer.wait_closed();
      } catch (const CancelledError&) {
        ++cancelled;
      }
      Task<ServerRef> start = create_task(start_server(echo_lines, "127.0.0.1", 0));
      for (int i = 0; i < steps; ++i) co_await sleep(0);
      start.cancel();
      try {
        co_await close_server(co_await start);
      } catch (const CancelledError&) {
      }
    }
    EXPECT_GT(cancelled, 0);
    EXPECT_GT(completed, 0);
    co_await close_server(server);  // waits until every accepted connection has gone
  }());
}

TEST_F(StreamsTest, ReadsCancelledMidLineOverASocketLoseNoByte) {
  std::vector<double> timeouts;  // the virtual instants at which the reads timed out
  run_on_virtual_time([&timeouts]() -> Coro<void> {
    ServerRef server = co_await start_server(
        [&timeouts](StreamReader reader, StreamWriter writer) -> Coro<void> {
          // Each read below times out once (a cancellation) before its data is complete.
          std::string got;
          auto timed_out = [&] {
            got += "T";
            timeouts.push_back(get_running_loop().time());
          };
          for (int i = 0; i < 3; ++i) {
            try {
              co_await wait_for(reader.readline(), 0.02);
            } catch (const TimeoutError&) {
              timed_out();
            }
          }
          got += co_await reader.readline();
          try {
            co_await wait_for(reader.readexactly(6), 0.02);
          } catch (const TimeoutError&) {
            timed_out();
          }
          got += co_await reader.readexactly(6);
          try {
            co_await wait_for(reader.readuntil("::"), 0.02);
          } catch (const TimeoutError&) {
            timed_out();
          }
          got += co_await reader.readuntil("::");
          writer.write(got);
          writer.close();
        },
        "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    writer.write("par");
    co_await sleep(0.03);
    writer.write("ti");
    co_await sleep(0.03);
    writer.write("al");
    co_await sleep(0.03);
    writer.write("\nabc");
    co_await sleep(0.03);
    writer.write("def:");
    co_await sleep(0.03);
    writer.write(":");
    // readexactly(6) timed out on "abc", readuntil("::") on the ":" after "abcdef": both stayed
    // for the next read.
    EXPECT_EQ(co_await reader.read(), "TTTpartial\nTabcdefT::");
    writer.close();
    co_await writer.wait_closed();
    co_await close_server(server);
  }());
  // Each timeout came 0.02 s after its read started: three readlines back to back from 0, the
  // readexactly from the "\n" at 0.09, the readuntil from the "def:" at 0.12.
  std::vector<double> expected = {0.02, 0.04, 0.06, 0.11, 0.14};
  ASSERT_EQ(timeouts.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(timeouts[i], expected[i], 1e-9);
}

TEST_F(StreamsTest, WaitClosedCancelledThenAwaitedAgain) {
  run([]() -> Coro<void> {
    ServerRef server = co_await start_server(echo_lines, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    EXPECT_THROW(co_await wait_for(writer.wait_closed(), 0.01), TimeoutError);
    writer.write_eof();
    EXPECT_EQ(co_await reader.read(), "bye\n");
    writer.close();
    co_await writer.wait_closed();
    co_await writer.wait_closed();  // done stays done
    co_await close_server(server);
  }());
}

TEST_F(StreamsTest, WriterReprAndWritelines) {
  run([]() -> Coro<void> {
    ServerRef server = co_await start_server(echo_lines, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    EXPECT_EQ(writer.repr().rfind("<StreamWriter transport=<SocketTransport", 0), 0u)
        << writer.repr();
    EXPECT_NE(writer.repr().find(" reader=<StreamReader"), std::string::npos) << writer.repr();
    writer.writelines({"a", "b", "c\n"});
    EXPECT_EQ(co_await reader.readline(), "abc\n");
    writer.close();
    co_await writer.wait_closed();
    co_await close_server(server);
  }());
}

TEST(StreamsLoopCloseTest, ConnectionsLeftOpenAreReleasedWithTheirLoop) {
  // Neither side closes: the handler waits in readline, the client holds its streams. Closing
  // the loop must release every fd (fd_leak_check) and every object (LeakSanitizer under asan):
  // the streams keep no reference cycle alive once their transport lets go.
  std::optional<Streams> kept;
  {
    EventLoop loop;
    bool waiting = false;
    loop.run_until_complete(wait_for(
        [&]() -> Coro<void> {
          ServerRef server = co_await start_server(
              [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
                waiting = true;
                co_await reader.readline();
              },
              "127.0.0.1", 0);
          kept = co_await open_connection("127.0.0.1", port_of(server));
          while (!waiting) co_await sleep(0.001);
        }(),
        10));
    testing::LogCapture logs;  // "unclosed transport ... closed with its loop"
    loop.close();
  }
  kept.reset();
}

}  // namespace
}  // namespace aio
