// aio servers and clients against real programs: socat and nc (netcat-openbsd) talking to an aio
// echo server over TCP and a UNIX socket, curl fetching from a small HTTP/1.1 responder written on
// aio's Protocol API, and CPython's asyncio as both client and server. Each test checks the data
// both sides saw, the peer's exit status and the aio protocol's callback trace (RecordingProtocol
// also asserts asyncio's callback contract as it goes).
//
// Peers read their stdin from files and write their stdout to files, through /bin/sh; the loop
// runs while a peer runs (run_until_exit), and every wait is bounded. Files and UNIX sockets live
// in a directory under /tmp (Bazel's TEST_TMPDIR is too long for sockaddr_un).
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
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
#include "net/net.h"
#include "testing/loop_test_util.h"
#include "testing/peer_process.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using testing::PeerProcess;
using testing::RecordingFactory;
using testing::RecordingProtocol;
using testing::run_until;

// --- Helpers -------------------------------------------------------------------------------------

// A directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/aio-peers-XXXXXX";
    if (mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
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

// Starts `command` under /bin/sh (so it can redirect its stdin and stdout).
PeerProcess shell(const std::string& command) { return PeerProcess({"/bin/sh", "-c", command}); }

// Runs the loop while `peer` runs (at most `timeout` s, then the test fails) and returns the
// peer's exit code (-1 if it did not exit normally or in time).
int run_until_exit(EventLoop& loop, PeerProcess& peer, double timeout = 30) {
  if (!run_until(loop, [&] { return !peer.running(); }, timeout)) {
    ADD_FAILURE() << "the peer did not exit within " << timeout << " s";
    return -1;
  }
  int status = peer.wait(5);
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void close_server(EventLoop& loop, const ServerRef& server) {
  server->close();
  loop.run_until_complete(aio::wait_for(server->wait_closed(), 10));
}

std::uint16_t port_of(const ServerRef& server) {
  return server->sockets().at(0).getsockname().port();
}

// `lines` numbered lines of text (about 60 bytes each).
std::string text_lines(int lines) {
  std::string text;
  for (int i = 1; i <= lines; ++i) {
    char line[80];
    std::snprintf(line, sizeof line, "line %05d: the quick brown fox jumps over the lazy dog\n", i);
    text += line;
  }
  return text;
}

// An echo server's protocols: each writes back what it receives and, when the peer half-closes,
// keeps its write side open (eof_received returns true) to send one last line, then closes.
RecordingFactory<> echo_then_bye_factory() {
  RecordingFactory<> factory;
  factory.setup = [](RecordingProtocol& protocol) {
    protocol.on_data = [](Transport& transport, std::span<const std::byte> data) {
      transport.write(data);
    };
    protocol.on_eof = [](Transport& transport) {
      EXPECT_FALSE(transport.is_closing());
      transport.write("bye\n");
      transport.close();  // flushes "bye\n" first
      return true;
    };
  };
  return factory;
}

// --- socat and nc against an aio echo server
// -------------------------------------------------------

TEST(PeersTest, SocatHalfClosesAndGetsEveryEchoedByteAndAFinalLine) {
  if (!installed("socat")) GTEST_SKIP() << "socat is not installed";
  TempDir dir;
  std::string input = text_lines(4000);  // 240 KB: more than one socket buffer's worth
  write_file(dir.file("in"), input);
  EventLoop loop;
  RecordingFactory<> factory = echo_then_bye_factory();
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  // -t 10: after its stdin's EOF, socat waits (up to 10 s) for the server to close its side.
  PeerProcess socat = shell("exec socat -t 10 - TCP:127.0.0.1:" + std::to_string(port_of(server)) +
                            " < " + dir.file("in") + " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, socat), 0);
  ASSERT_EQ(factory.made.size(), 1u);
  RecordingProtocol& protocol = *factory.made[0];
  run_until(loop, [&] { return protocol.lost(); });
  EXPECT_TRUE(protocol.received == input) << protocol.received.size() << " of " << input.size();
  EXPECT_EQ(protocol.trace(), "made data eof lost");
  EXPECT_EQ(protocol.lost_error, nullptr);
  std::string output = read_file(dir.file("out"));
  EXPECT_TRUE(output == input + "bye\n") << output.size() << " bytes back";
  EXPECT_EQ(server->active_connections(), 0u);
  close_server(loop, server);
}

TEST(PeersTest, NetcatWithStdinFromAPipeShutsDownAndGetsEveryEchoedByte) {
  if (!installed("nc")) GTEST_SKIP() << "nc is not installed";
  TempDir dir;
  std::string input = text_lines(2000);
  write_file(dir.file("in"), input);
  EventLoop loop;
  RecordingFactory<> factory = echo_then_bye_factory();
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  // -N: shutdown(SHUT_WR) after stdin's EOF; nc then reads until the server closes.
  PeerProcess nc = shell("cat " + dir.file("in") + " | nc -N 127.0.0.1 " +
                         std::to_string(port_of(server)) + " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, nc), 0);
  ASSERT_EQ(factory.made.size(), 1u);
  RecordingProtocol& protocol = *factory.made[0];
  run_until(loop, [&] { return protocol.lost(); });
  EXPECT_TRUE(protocol.received == input) << protocol.received.size() << " of " << input.size();
  EXPECT_EQ(protocol.trace(), "made data eof lost");
  std::string output = read_file(dir.file("out"));
  EXPECT_TRUE(output == input + "bye\n") << output.size() << " bytes back";
  close_server(loop, server);
}

TEST(PeersTest, SocatReachesAUnixSocketServer) {
  if (!installed("socat")) GTEST_SKIP() << "socat is not installed";
  TempDir dir;
  std::string input = text_lines(3000);
  write_file(dir.file("in"), input);
  std::string path = dir.file("echo.sock");
  EventLoop loop;
  RecordingFactory<> factory = echo_then_bye_factory();
  ServerRef server = loop.run_until_complete(create_unix_server(loop, factory.factory(), path));
  EXPECT_EQ(server->sockets().at(0).getsockname().path(), path);
  PeerProcess socat = shell("exec socat -t 10 - UNIX-CONNECT:" + path + " < " + dir.file("in") +
                            " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, socat), 0);
  ASSERT_EQ(factory.made.size(), 1u);
  RecordingProtocol& protocol = *factory.made[0];
  run_until(loop, [&] { return protocol.lost(); });
  EXPECT_TRUE(protocol.received == input) << protocol.received.size() << " of " << input.size();
  EXPECT_EQ(protocol.trace(), "made data eof lost");
  EXPECT_TRUE(read_file(dir.file("out")) == input + "bye\n");
  close_server(loop, server);
}

TEST(PeersTest, NetcatReachesAUnixSocketServer) {
  if (!installed("nc")) GTEST_SKIP() << "nc is not installed";
  TempDir dir;
  write_file(dir.file("in"), "over a UNIX socket\n");
  std::string path = dir.file("echo.sock");
  EventLoop loop;
  RecordingFactory<> factory = echo_then_bye_factory();
  ServerRef server = loop.run_until_complete(create_unix_server(loop, factory.factory(), path));
  PeerProcess nc =
      shell("exec nc -N -U " + path + " < " + dir.file("in") + " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, nc), 0);
  ASSERT_EQ(factory.made.size(), 1u);
  run_until(loop, [&] { return factory.made[0]->lost(); });
  EXPECT_EQ(factory.made[0]->trace(), "made data eof lost");
  EXPECT_EQ(read_file(dir.file("out")), "over a UNIX socket\nbye\n");
  close_server(loop, server);
}

// --- curl against an HTTP/1.1 responder on aio ---------------------------------------------------

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(const std::string& text) {
  std::size_t begin = text.find_first_not_of(" \t");
  std::size_t end = text.find_last_not_of(" \t");
  return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

// A tiny HTTP/1.1 server protocol: it reads a request line and headers up to "\r\n\r\n" (and a
// Content-Length body, answering "Expect: 100-continue"), answers "200 OK" with a text body
// naming the request, keeps the connection alive unless the client asks for "Connection: close"
// (or speaks HTTP/1.0 without keep-alive), and answers garbage with "400 Bad Request" and a close.
class HttpResponder : public RecordingProtocol {
 public:
  struct Request {
    std::string method, target, version;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
  };

  HttpResponder() {
    on_data = [this](Transport& transport, std::span<const std::byte>) { parse(transport); };
  }

  // The body of the answer to `request`, the `index`th (from 1) on its connection.
  static std::string body_for(const Request& request, int index) {
    std::string body = request.method + " " + request.target + " (request " +
                       std::to_string(index) + " on this connection)\n";
    if (!request.body.empty()) body += "got " + std::to_string(request.body.size()) + " bytes\n";
    return body;
  }
  static std::string response(const std::string& status, const std::string& body, bool close) {
    return "HTTP/1.1 " + status +
           "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n" + body;
  }

  std::vector<Request> requests;
  int continues = 0;  // "100 Continue" interim answers sent

 private:
  void parse(Transport& transport) {
    while (!transport.is_closing()) {
      std::size_t head_end = received.find("\r\n\r\n", consumed_);
      if (head_end == std::string::npos) {
        if (received.size() - consumed_ > 65536) bad_request(transport);
        return;
      }
      std::istringstream head(received.substr(consumed_, head_end - consumed_));
      Request request;
      std::string line;
      std::getline(head, line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::istringstream request_line(line);
      std::string rest;
      if (!(request_line >> request.method >> request.target >> request.version) ||
          (request_line >> rest) || request.version.rfind("HTTP/1.", 0) != 0) {
        return bad_request(transport);
      }
      while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::size_t colon = line.find(':');
        if (colon == std::string::npos || colon == 0) return bad_request(transport);
        request.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
      }
      std::size_t length = 0;
      if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
        length = std::stoul(it->second);
      }
      std::size_t body_start = head_end + 4;
      if (received.size() - body_start < length) {
        if (lower(request.headers["expect"]) == "100-continue" && !continued_) {
          transport.write("HTTP/1.1 100 Continue\r\n\r\n");
          continued_ = true;
          ++continues;
        }
        return;  // wait for the rest of the body
      }
      request.body = received.substr(body_start, length);
      consumed_ = body_start + length;
      continued_ = false;
      std::string connection = lower(request.headers["connection"]);
      bool close =
          request.version == "HTTP/1.0" ? connection != "keep-alive" : connection == "close";
      requests.push_back(request);
      transport.write(
          response("200 OK", body_for(request, static_cast<int>(requests.size())), close));
      if (close) transport.close();
    }
  }

  void bad_request(Transport& transport) {
    transport.write(response("400 Bad Request", "bad request\n", true));
    transport.close();
  }

  std::size_t consumed_ = 0;  // bytes of `received` already answered
  bool continued_ = false;
};

// An HTTP server on 127.0.0.1 (any port) whose connections are HttpResponders.
struct HttpServer {
  explicit HttpServer(EventLoop& loop)
      : server(loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0))) {}
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_of(server)) + path;
  }
  RecordingFactory<HttpResponder> factory;
  ServerRef server;
};

TEST(PeersTest, CurlFetchesFromAnAioHttpResponder) {
  if (!installed("curl")) GTEST_SKIP() << "curl is not installed";
  TempDir dir;
  EventLoop loop;
  HttpServer http(loop);
  PeerProcess curl = shell("exec curl -s --max-time 20 -D - " + http.url("/hello/world?x=1") +
                           " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, curl), 0) << "curl's exit code";
  ASSERT_EQ(http.factory.made.size(), 1u);
  HttpResponder& responder = *http.factory.made[0];
  run_until(loop, [&] { return responder.lost(); });
  ASSERT_EQ(responder.requests.size(), 1u);
  const HttpResponder::Request& request = responder.requests[0];
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/hello/world?x=1");
  EXPECT_EQ(request.version, "HTTP/1.1");
  EXPECT_EQ(request.headers.at("host"), "127.0.0.1:" + std::to_string(port_of(http.server)));
  EXPECT_EQ(request.headers.at("user-agent").rfind("curl/", 0), 0u);
  EXPECT_EQ(request.headers.at("accept"), "*/*");
  EXPECT_EQ(read_file(dir.file("out")),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 52\r\n\r\n"
            "GET /hello/world?x=1 (request 1 on this connection)\n");
  // curl closes the connection when it exits: the responder sees EOF and closes.
  EXPECT_EQ(responder.trace(), "made data eof lost");
  close_server(loop, http.server);
}

TEST(PeersTest, CurlKeepsTheConnectionAliveForTwoUrls) {
  if (!installed("curl")) GTEST_SKIP() << "curl is not installed";
  TempDir dir;
  EventLoop loop;
  HttpServer http(loop);
  // %{num_connects}: new connections curl made for that transfer (0: it reused one).
  PeerProcess curl =
      shell("exec curl -s --http1.1 --max-time 20 -D - -w 'connects=%{num_connects}\\n' " +
            http.url("/first") + " " + http.url("/second") + " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, curl), 0) << "curl's exit code";
  ASSERT_EQ(http.factory.made.size(), 1u) << "both requests on one connection";
  HttpResponder& responder = *http.factory.made[0];
  run_until(loop, [&] { return responder.lost(); });
  ASSERT_EQ(responder.requests.size(), 2u);
  EXPECT_EQ(responder.requests[0].target, "/first");
  EXPECT_EQ(responder.requests[1].target, "/second");
  EXPECT_EQ(
      read_file(dir.file("out")),
      HttpResponder::response("200 OK", "GET /first (request 1 on this connection)\n", false) +
          "connects=1\n" +
          HttpResponder::response("200 OK", "GET /second (request 2 on this connection)\n", false) +
          "connects=0\n");
  EXPECT_EQ(responder.trace(), "made data eof lost");
  close_server(loop, http.server);
}

TEST(PeersTest, ConnectionCloseMakesTheResponderCloseFirst) {
  if (!installed("curl")) GTEST_SKIP() << "curl is not installed";
  TempDir dir;
  EventLoop loop;
  HttpServer http(loop);
  // Two URLs again, but each asks for Connection: close: curl must open a second connection.
  PeerProcess curl = shell("exec curl -s --max-time 20 -D - -H 'Connection: close' " +
                           http.url("/a") + " " + http.url("/b") + " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, curl), 0) << "curl's exit code";
  ASSERT_EQ(http.factory.made.size(), 2u) << "one connection per request";
  for (const auto& responder : http.factory.made) {
    run_until(loop, [&] { return responder->lost(); });
    EXPECT_EQ(responder->requests.size(), 1u);
    EXPECT_EQ(responder->trace(), "made data lost") << "the server closed; no EOF was read";
  }
  EXPECT_EQ(read_file(dir.file("out")),
            HttpResponder::response("200 OK", "GET /a (request 1 on this connection)\n", true) +
                HttpResponder::response("200 OK", "GET /b (request 1 on this connection)\n", true));
  close_server(loop, http.server);
}

TEST(PeersTest, CurlPostsABodyAfterOneHundredContinue) {
  if (!installed("curl")) GTEST_SKIP() << "curl is not installed";
  TempDir dir;
  // 1.5 MB: above curl's 1 MiB threshold, so it sends "Expect: 100-continue" and waits for the
  // interim answer before the body (--expect100-timeout: up to 15 s, were it not to come).
  std::string upload = text_lines(25000);
  write_file(dir.file("upload"), upload);
  EventLoop loop;
  HttpServer http(loop);
  PeerProcess curl =
      shell("exec curl -s --max-time 20 --expect100-timeout 15 --data-binary @" +
            dir.file("upload") + " " + http.url("/upload") + " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, curl), 0) << "curl's exit code";
  ASSERT_EQ(http.factory.made.size(), 1u);
  HttpResponder& responder = *http.factory.made[0];
  run_until(loop, [&] { return responder.lost(); });
  ASSERT_EQ(responder.requests.size(), 1u);
  EXPECT_EQ(responder.requests[0].method, "POST");
  EXPECT_EQ(responder.requests[0].headers.at("content-length"), std::to_string(upload.size()));
  EXPECT_TRUE(responder.requests[0].body == upload);
  EXPECT_EQ(responder.continues, 1) << "curl asked for 100-continue and waited for it";
  EXPECT_EQ(read_file(dir.file("out")), "POST /upload (request 1 on this connection)\ngot " +
                                            std::to_string(upload.size()) + " bytes\n");
  EXPECT_EQ(responder.trace(), "made data eof lost");
  close_server(loop, http.server);
}

TEST(PeersTest, GarbageGetsABadRequestAndAClose) {
  if (!installed("socat")) GTEST_SKIP() << "socat is not installed";
  TempDir dir;
  write_file(dir.file("in"), "NOT HTTP AT ALL\r\n\r\n");
  EventLoop loop;
  HttpServer http(loop);
  PeerProcess socat =
      shell("exec socat -t 10 - TCP:127.0.0.1:" + std::to_string(port_of(http.server)) + " < " +
            dir.file("in") + " > " + dir.file("out"));
  EXPECT_EQ(run_until_exit(loop, socat), 0);
  ASSERT_EQ(http.factory.made.size(), 1u);
  run_until(loop, [&] { return http.factory.made[0]->lost(); });
  EXPECT_EQ(read_file(dir.file("out")),
            HttpResponder::response("400 Bad Request", "bad request\n", true));
  EXPECT_TRUE(http.factory.made[0]->requests.empty());
  close_server(loop, http.server);
}

// --- CPython's asyncio as the peer ---------------------------------------------------------------

TEST(PeersTest, PythonAsyncioClientTalksToAnAioServer) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  TempDir dir;
  const char* script =
      "import asyncio, sys\n"
      "async def main():\n"
      "    reader, writer = await asyncio.open_connection('127.0.0.1', int(sys.argv[1]))\n"
      "    payload = bytes(i % 251 for i in range(300000))\n"
      "    writer.write(payload)\n"
      "    await writer.drain()\n"
      "    echo = await reader.readexactly(len(payload))\n"
      "    assert echo == payload, 'the echo differs'\n"
      "    assert writer.can_write_eof()\n"
      "    writer.write_eof()\n"
      "    rest = await reader.read()\n"
      "    eof = reader.at_eof()\n"
      "    writer.close()\n"
      "    await writer.wait_closed()\n"
      "    with open(sys.argv[2], 'w') as out:\n"
      "        out.write(f'echoed {len(echo)} then {rest!r} eof={eof}')\n"
      "asyncio.run(asyncio.wait_for(main(), 20))\n";
  EventLoop loop;
  RecordingFactory<> factory = echo_then_bye_factory();
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  PeerProcess python({"python3", "-c", script, std::to_string(port_of(server)), dir.file("out")});
  EXPECT_EQ(run_until_exit(loop, python), 0) << "python3's exit code";
  EXPECT_EQ(read_file(dir.file("out")), "echoed 300000 then b'bye\\n' eof=True");
  ASSERT_EQ(factory.made.size(), 1u);
  RecordingProtocol& protocol = *factory.made[0];
  run_until(loop, [&] { return protocol.lost(); });
  ASSERT_EQ(protocol.received.size(), 300000u);
  for (std::size_t i = 0; i < protocol.received.size(); ++i) {
    if (static_cast<unsigned char>(protocol.received[i]) != i % 251) {
      ADD_FAILURE() << "byte " << i << " differs";
      break;
    }
  }
  EXPECT_EQ(protocol.trace(), "made data eof lost");
  close_server(loop, server);
}

TEST(PeersTest, AioClientTalksToAPythonAsyncioServer) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  TempDir dir;
  // A line server: each line comes back upper-cased; at EOF a summary line, then it closes. It
  // serves one client, writes what it saw to argv[2] and exits. It announces its port in argv[1]
  // (written, then renamed into place, so it is never read half-written).
  const char* script =
      "import asyncio, os, sys\n"
      "async def main():\n"
      "    done = asyncio.get_running_loop().create_future()\n"
      "    async def handle(reader, writer):\n"
      "        lines = size = 0\n"
      "        while line := await reader.readline():\n"
      "            lines += 1\n"
      "            size += len(line)\n"
      "            writer.write(line.upper())\n"
      "            await writer.drain()\n"
      "        writer.write(f'{lines} lines, {size} bytes\\n'.encode())\n"
      "        await writer.drain()\n"
      "        writer.close()\n"
      "        await writer.wait_closed()\n"
      "        done.set_result((lines, size))\n"
      "    server = await asyncio.start_server(handle, '127.0.0.1', 0)\n"
      "    with open(sys.argv[1] + '.tmp', 'w') as out:\n"
      "        out.write(str(server.sockets[0].getsockname()[1]))\n"
      "    os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
      "    async with server:\n"
      "        lines, size = await asyncio.wait_for(done, 20)\n"
      "    with open(sys.argv[2], 'w') as out:\n"
      "        out.write(f'served {lines} lines')\n"
      "asyncio.run(main())\n";
  PeerProcess python({"python3", "-c", script, dir.file("port"), dir.file("out")});
  EventLoop loop;
  run_until(loop, [&] { return std::filesystem::exists(dir.file("port")) || !python.running(); });
  ASSERT_TRUE(std::filesystem::exists(dir.file("port"))) << "python3 did not start its server";
  int port = std::stoi(read_file(dir.file("port")));

  std::string text = text_lines(2000);
  RecordingFactory<> factory;
  auto talk = [&]() -> Coro<void> {
    Connection<> connection = co_await create_connection(loop, factory.factory(), "127.0.0.1",
                                                         static_cast<std::uint16_t>(port));
    connection.first->write(text);
    connection.first->write_eof();
    while (!factory.made[0]->lost()) co_await sleep(0.002);
  };
  loop.run_until_complete(aio::wait_for(talk(), 20));
  EXPECT_EQ(run_until_exit(loop, python), 0) << "python3's exit code";
  EXPECT_EQ(read_file(dir.file("out")), "served 2000 lines");
  ASSERT_EQ(factory.made.size(), 1u);
  RecordingProtocol& protocol = *factory.made[0];
  std::string expected = text;
  std::transform(expected.begin(), expected.end(), expected.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  expected += "2000 lines, " + std::to_string(text.size()) + " bytes\n";
  EXPECT_TRUE(protocol.received == expected) << protocol.received.size() << " bytes back";
  EXPECT_EQ(protocol.trace(), "made data eof lost");
  EXPECT_EQ(protocol.lost_error, nullptr);
}

}  // namespace
}  // namespace aio
