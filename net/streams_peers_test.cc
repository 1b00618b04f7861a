// Streams against real programs: socat and nc (netcat-openbsd) talking to a line echo server
// written with start_server / start_unix_server, curl against an HTTP/1.1 server written with
// streams (keep-alive, a POST body), an aio streams client against socat's cat, and CPython's
// asyncio streams at the other end as client and as server.
//
// Peers read their stdin from files and write their stdout to files, through /bin/sh. Files and
// UNIX sockets live in a directory under /tmp (TEST_TMPDIR is too long for sockaddr_un).
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "loop/task.h"
#include "net/streams.h"
#include "testing/loop_test_util.h"
#include "testing/peer_process.h"

namespace aio {
namespace {

using testing::PeerProcess;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/aio-streams-peers-XXXXXX";
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

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

bool installed(const std::string& program) { return !testing::find_program(program).empty(); }

PeerProcess shell(const std::string& command) { return PeerProcess({"/bin/sh", "-c", command}); }

// Lets the loop run until `peer` exits (at most `timeout` s); its exit code, or -1.
Coro<int> exit_code(PeerProcess& peer, double timeout = 30) {
  for (double waited = 0; peer.running() && waited < timeout; waited += 0.005) {
    co_await sleep(0.005);
  }
  int status = peer.wait(5);
  co_return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::uint16_t port_of(const ServerRef& server) {
  return server->sockets().at(0).getsockname().port();
}

Coro<void> close_server(ServerRef server) {
  server->close();
  co_await wait_for(server->wait_closed(), 10);
}

template <class T>
T run(EventLoop& loop, Coro<T> coro, double timeout = 60) {
  return loop.run_until_complete(wait_for(std::move(coro), timeout));
}

std::string text_lines(int lines) {
  std::string text;
  for (int i = 1; i <= lines; ++i) {
    char line[80];
    std::snprintf(line, sizeof line, "line %05d: the quick brown fox jumps over the lazy dog\n", i);
    text += line;
  }
  return text;
}

// The line echo server: each line back, "bye\n" at EOF, then close; counts its connections.
struct LineEcho {
  int connections = 0;
  int finished = 0;
  ClientConnectedCallback callback() {
    return [this](StreamReader reader, StreamWriter writer) -> Coro<void> {
      ++connections;
      while (true) {
        std::string line = co_await reader.readline();
        if (line.empty()) break;
        writer.write(line);
        co_await writer.drain();
      }
      writer.write("bye\n");
      writer.close();
      co_await writer.wait_closed();
      ++finished;
    };
  }
};

TEST(StreamsPeersTest, SocatGetsEveryLineEchoedAndAFinalLine) {
  if (!installed("socat")) GTEST_SKIP() << "socat is not installed";
  TempDir dir;
  std::string input = text_lines(5000);  // 300 KB: several socket buffers
  write_file(dir.file("in"), input);
  EventLoop loop;
  LineEcho echo;
  run(loop, [&]() -> Coro<void> {
    ServerRef server = co_await start_server(echo.callback(), "127.0.0.1", 0);
    PeerProcess socat =
        shell("exec socat -t 10 - TCP:127.0.0.1:" + std::to_string(port_of(server)) + " < " +
              dir.file("in") + " > " + dir.file("out"));
    EXPECT_EQ(co_await exit_code(socat), 0);
    co_await close_server(server);
  }());
  EXPECT_EQ(echo.connections, 1);
  EXPECT_EQ(echo.finished, 1);
  std::string output = read_file(dir.file("out"));
  EXPECT_TRUE(output == input + "bye\n") << output.size() << " bytes back";
}

TEST(StreamsPeersTest, NetcatOverAUnixSocket) {
  if (!installed("nc")) GTEST_SKIP() << "nc is not installed";
  TempDir dir;
  std::string input = text_lines(2000);
  write_file(dir.file("in"), input);
  std::string path = dir.file("echo.sock");
  EventLoop loop;
  LineEcho echo;
  run(loop, [&]() -> Coro<void> {
    ServerRef server = co_await start_unix_server(echo.callback(), path);
    // -N: shutdown(SHUT_WR) after stdin's EOF; nc then reads until the server closes.
    PeerProcess nc =
        shell("exec nc -N -U " + path + " < " + dir.file("in") + " > " + dir.file("out"));
    EXPECT_EQ(co_await exit_code(nc), 0);
    co_await close_server(server);
  }());
  EXPECT_EQ(echo.finished, 1);
  EXPECT_TRUE(read_file(dir.file("out")) == input + "bye\n");
}

TEST(StreamsPeersTest, AnAioClientAgainstSocatRunningCatOverTcpAndUnix) {
  if (!installed("socat")) GTEST_SKIP() << "socat is not installed";
  TempDir dir;
  EventLoop loop;
  std::string payload = text_lines(20000);  // 1.2 MB
  int port = testing::free_loopback_port();
  std::string path = dir.file("cat.sock");
  PeerProcess tcp_cat(
      {"socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr", "EXEC:cat"});
  PeerProcess unix_cat({"socat", "UNIX-LISTEN:" + path, "EXEC:cat"});
  for (int i = 0; i < 1000 && !std::filesystem::exists(path); ++i) ::usleep(10000);
  run(loop, [&]() -> Coro<void> {
    for (bool unix_socket : {false, true}) {
      // socat without `fork` serves exactly one connection: no probing connect first, retry
      // until it listens.
      std::optional<Streams> streams;
      for (int attempt = 0; !streams; ++attempt) {
        try {
          streams = unix_socket ? co_await open_unix_connection(path)
                                : co_await open_connection("127.0.0.1", std::uint16_t(port));
        } catch (const ConnectionRefusedError&) {
          if (attempt == 1000) throw;
        }
        if (!streams) co_await sleep(0.01);
      }
      auto [reader, writer] = std::move(*streams);
      Task<std::string> back = create_task(reader.readexactly(std::ptrdiff_t(payload.size())));
      writer.write(payload);
      co_await writer.drain();
      std::string got = co_await back;
      EXPECT_TRUE(got == payload) << (unix_socket ? "UNIX: " : "TCP: ") << got.size();
      writer.write_eof();
      EXPECT_EQ(co_await reader.read(), "");  // cat ends at EOF, socat closes
      writer.close();
      co_await writer.wait_closed();
    }
  }());
  EXPECT_EQ(tcp_cat.wait(10), 0);
  EXPECT_EQ(unix_cat.wait(10), 0);
}

// --- curl against an HTTP/1.1 server written with streams -----------------------------------

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Serves requests on one connection until the client closes it or asks to: reads the head
// with readuntil("\r\n\r\n"), a Content-Length body with readexactly, answers with a body
// naming the request and its number on the connection.
struct HttpServer {
  std::vector<int> requests_per_connection;
  ClientConnectedCallback callback() {
    return [this](StreamReader reader, StreamWriter writer) -> Coro<void> {
      requests_per_connection.push_back(0);
      std::size_t me = requests_per_connection.size() - 1;
      while (true) {
        std::string head;
        try {
          head = co_await reader.readuntil("\r\n\r\n");
        } catch (const IncompleteReadError& e) {
          EXPECT_EQ(e.partial(), "");  // curl closes between requests, never inside one
          break;
        }
        std::istringstream lines(head);
        std::string method, target, version, line;
        lines >> method >> target >> version;
        std::getline(lines, line);
        std::map<std::string, std::string> headers;
        while (std::getline(lines, line) && line != "\r") {
          std::size_t colon = line.find(':');
          if (colon == std::string::npos) continue;
          std::string value = line.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          if (!value.empty() && value.back() == '\r') value.pop_back();
          headers[lower(line.substr(0, colon))] = value;
        }
        std::string body;
        if (headers.count("content-length")) {
          body = co_await reader.readexactly(std::stol(headers["content-length"]));
        }
        int index = ++requests_per_connection[me];
        std::string answer =
            method + " " + target + " (request " + std::to_string(index) + " on this connection)\n";
        if (!body.empty()) answer += "got " + std::to_string(body.size()) + " bytes\n";
        bool close = lower(headers["connection"]) == "close";
        writer.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                     std::to_string(answer.size()) + "\r\n" +
                     (close ? "Connection: close\r\n" : "") + "\r\n" + answer);
        co_await writer.drain();
        if (close) break;
      }
      writer.close();
      co_await writer.wait_closed();
    };
  }
};

TEST(StreamsPeersTest, CurlKeepsOneConnectionAliveForTwoRequestsAndPostsABody) {
  if (!installed("curl")) GTEST_SKIP() << "curl is not installed";
  TempDir dir;
  write_file(dir.file("body"), std::string(100000, 'b'));
  EventLoop loop;
  HttpServer http;
  run(loop, [&]() -> Coro<void> {
    ServerRef server = co_await start_server(http.callback(), "127.0.0.1", 0);
    std::string base = "http://127.0.0.1:" + std::to_string(port_of(server));
    PeerProcess curl =
        shell("exec curl -sS --max-time 20 " + base + "/one " + base + "/two > " + dir.file("out"));
    EXPECT_EQ(co_await exit_code(curl), 0);
    PeerProcess post = shell("exec curl -sS --max-time 20 -H 'Expect:' --data-binary @" +
                             dir.file("body") + " " + base + "/upload > " + dir.file("post"));
    EXPECT_EQ(co_await exit_code(post), 0);
    co_await close_server(server);
  }());
  EXPECT_EQ(read_file(dir.file("out")),
            "GET /one (request 1 on this connection)\nGET /two (request 2 on this connection)\n");
  EXPECT_EQ(read_file(dir.file("post")),
            "POST /upload (request 1 on this connection)\ngot 100000 bytes\n");
  EXPECT_EQ(http.requests_per_connection, (std::vector<int>{2, 1}));
}

// --- CPython's asyncio streams at the other end ------------------------------------------------

TEST(StreamsPeersTest, CPythonStreamsClientAgainstAnAioStreamsServer) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  TempDir dir;
  EventLoop loop;
  LineEcho echo;
  // CPython sends 1000 lines, reads each echo with readline, half-closes, reads to EOF.
  const std::string script = R"(
import asyncio, sys
async def main(port, out):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = []
    for i in range(1000):
        writer.write(b"python line %d\n" % i)
        await writer.drain()
        got.append(await reader.readline())
    writer.write_eof()
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    ok = all(got[i] == b"python line %d\n" % i for i in range(1000))
    open(out, "w").write("%s %r" % (ok, rest))
asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
)";
  run(loop, [&]() -> Coro<void> {
    ServerRef server = co_await start_server(echo.callback(), "127.0.0.1", 0);
    PeerProcess python({"python3", "-c", script, std::to_string(port_of(server)), dir.file("out")});
    EXPECT_EQ(co_await exit_code(python), 0) << "python3's exit code";
    co_await close_server(server);
  }());
  EXPECT_EQ(read_file(dir.file("out")), "True b'bye\\n'");
  EXPECT_EQ(echo.finished, 1);
}

TEST(StreamsPeersTest, AnAioStreamsClientAgainstACPythonStreamsServerOverUnix) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  TempDir dir;
  std::string path = dir.file("py.sock");
  EventLoop loop;
  // CPython serves one connection: each line upper-cased, then at EOF a count, then it exits.
  const std::string script = R"(
import asyncio, sys
async def main(path):
    done = asyncio.get_running_loop().create_future()
    async def handle(reader, writer):
        n = 0
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
            n += 1
        writer.write(b"%d lines\n" % n)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        done.set_result(None)
    server = await asyncio.start_unix_server(handle, path)
    open(path + ".ready", "w").close()
    await done
    server.close()
    await server.wait_closed()
asyncio.run(main(sys.argv[1]))
)";
  PeerProcess python({"python3", "-c", script, path});
  // The socket file exists from bind(), before listen(): a connect in between is refused.
  // The script marks the moment it listens.
  for (int i = 0; i < 1000 && !std::filesystem::exists(path + ".ready") && python.running(); ++i) {
    ::usleep(10000);
  }
  ASSERT_TRUE(std::filesystem::exists(path)) << "python3 did not start its server";
  run(loop, [&]() -> Coro<void> {
    auto [reader, writer] = co_await open_unix_connection(path);
    for (int i = 0; i < 500; ++i) {
      writer.write("aio line " + std::to_string(i) + "\n");
      if (i % 50 == 0) co_await writer.drain();
    }
    co_await writer.drain();
    int good = 0;
    for (int i = 0; i < 500; ++i) {
      if (co_await reader.readline() == "AIO LINE " + std::to_string(i) + "\n") ++good;
    }
    EXPECT_EQ(good, 500);
    writer.write_eof();
    EXPECT_EQ(co_await reader.readline(), "500 lines\n");
    EXPECT_EQ(co_await reader.read(), "");
    writer.close();
    co_await writer.wait_closed();
    EXPECT_EQ(co_await exit_code(python), 0);
  }());
}

}  // namespace
}  // namespace aio
