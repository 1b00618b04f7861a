// Streams over TLS (issue 14): open_connection / start_server with `ssl` in their option
// structs, open_unix_connection / start_unix_server with SslOptions. aio at both ends with a
// large verified readexactly transfer, OpenSSL's s_client and s_server, and CPython's asyncio
// streams over ssl as client (TCP) and as server (UNIX). Certificates are made at test time
// (tls/test_pki.h); fds are counted by the fd-leak check every aio_cc_test links.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "loop/task.h"
#include "net/streams.h"
#include "testing/peer_process.h"
#include "tls/tls_test_util.h"

namespace aio::tls {
namespace {

using aio::testing::find_program;
using aio::testing::free_loopback_port;
using aio::testing::PeerProcess;
using testing::pattern;
using testing::pki;
using testing::port_of;
using testing::read_file;
using testing::TempDir;

bool installed(const std::string& program) { return !find_program(program).empty(); }

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

template <class T>
T run(EventLoop& loop, Coro<T> coro, double timeout = 60) {
  return loop.run_until_complete(aio::wait_for(std::move(coro), timeout));
}

// Lets the loop run until `peer` exits (at most `timeout` s); its exit code, or -1.
Coro<int> exit_code(PeerProcess& peer, double timeout = 30) {
  for (double waited = 0; peer.running() && waited < timeout; waited += 0.005) {
    co_await sleep(0.005);
  }
  int status = peer.wait(5);
  co_return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Coro<void> close_server(ServerRef server) {
  server->close();
  co_await aio::wait_for(server->wait_closed(), 10);
}

std::string text_lines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    text += "tls line " + std::to_string(i) + ": sphinx of black quartz, judge my vow\n";
  }
  return text;
}

// Echoes blocks of up to 64 KiB until EOF (the client's close_notify), then closes.
struct BlockEcho {
  int finished = 0;
  std::vector<std::string> ciphers;
  ClientConnectedCallback callback() {
    return [this](StreamReader reader, StreamWriter writer) -> Coro<void> {
      std::any cipher = writer.get_extra_info("cipher");
      ciphers.push_back(cipher.has_value() ? std::any_cast<Cipher>(cipher).protocol : "none");
      while (true) {
        std::string block = co_await reader.read(64 * 1024);
        if (block.empty()) break;
        writer.write(block);
        co_await writer.drain();
      }
      writer.close();
      co_await writer.wait_closed();
      ++finished;
    };
  }
};

// Echoes lines; after `lines` of them writes "bye\n" and closes (peers that do not half-close,
// like s_client, read until the server's close_notify).
ClientConnectedCallback line_echo_then_bye(int lines, int* finished) {
  return [lines, finished](StreamReader reader, StreamWriter writer) -> Coro<void> {
    for (int i = 0; i < lines; ++i) {
      std::string line = co_await reader.readline();
      if (line.empty()) break;
      writer.write(line);
      co_await writer.drain();
    }
    writer.write("bye\n");
    writer.close();
    co_await writer.wait_closed();
    ++*finished;
  };
}

ServerOptions tls_server_options() {
  ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = "0";
  options.ssl = pki().server_context();
  return options;
}

ConnectionOptions tls_to(int port) {
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = std::to_string(port);
  options.ssl = pki().client_context();
  options.server_hostname = "localhost";
  return options;
}

SslOptions unix_client_tls() { return SslOptions{pki().client_context(), "localhost", 20.0}; }
SslOptions unix_server_tls() { return SslOptions{pki().server_context(), std::nullopt, 20.0}; }

// Sends `payload` and reads it back with one readexactly, while the server echoes it.
Coro<void> round_trip(Streams streams, const std::string& payload, const char* what) {
  auto [reader, writer] = std::move(streams);
  EXPECT_EQ(std::any_cast<Cipher>(writer.get_extra_info("cipher")).protocol, "TLSv1.3") << what;
  EXPECT_FALSE(writer.can_write_eof());  // TLS has no half-close (SSL transports say so)
  Task<std::string> back = create_task(reader.readexactly(std::ptrdiff_t(payload.size())));
  writer.write(payload);
  co_await writer.drain();
  std::string got = co_await back;
  EXPECT_TRUE(got == payload) << what << ": " << got.size() << " bytes back";
  writer.close();  // close_notify: the server's read() returns "" and it closes too
  EXPECT_EQ(co_await reader.read(), "") << what;
  co_await writer.wait_closed();
}

TEST(StreamsTlsTest, SixteenMebibytesThroughReadexactlyOverTlsOnTcpAndUnix) {
  TempDir dir;
  EventLoop loop;
  BlockEcho echo;
  const std::string payload = pattern(16 << 20, 3);
  run(loop, [&]() -> Coro<void> {
    ServerRef tcp = co_await start_server(echo.callback(), tls_server_options());
    ServerRef unix_server = co_await start_unix_server(echo.callback(), dir.file("tls.sock"), {},
                                                       100, true, unix_server_tls());
    co_await round_trip(co_await open_connection(tls_to(port_of(tcp))), payload, "TCP");
    co_await round_trip(co_await open_unix_connection(dir.file("tls.sock"), {}, unix_client_tls()),
                        payload, "UNIX");
    co_await close_server(tcp);
    co_await close_server(unix_server);
  }());
  EXPECT_EQ(echo.finished, 2);
  ASSERT_EQ(echo.ciphers.size(), 2u);
  // The server's writers are on the TLS transports too.
  EXPECT_EQ(echo.ciphers, (std::vector<std::string>{"TLSv1.3", "TLSv1.3"}));
}

TEST(StreamsTlsTest, TlsArgumentErrorsPassThroughTheUnixForms) {
  TempDir dir;
  EventLoop loop;
  auto message = [&](auto make) -> std::string {
    try {
      run(loop, make());
    } catch (const ValueError& e) {
      return e.what();
    }
    return "<no ValueError>";
  };
  EXPECT_EQ(message([&]() -> Coro<void> {
              SslOptions tls{pki().client_context()};
              co_await open_unix_connection(dir.file("none.sock"), {}, std::move(tls));
            }),
            "you have to pass server_hostname when using ssl");
  EXPECT_EQ(message([&]() -> Coro<void> {
              SslOptions tls{nullptr, std::nullopt, 5.0};
              co_await start_unix_server([](StreamReader, StreamWriter) {}, dir.file("x.sock"), {},
                                         100, true, std::move(tls));
            }),
            "ssl_handshake_timeout is only meaningful with ssl");
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.sock")));
}

TEST(StreamsTlsTest, AnUntrustedServerFailsOpenConnectionWithTheVerifyError) {
  TempDir dir;
  EventLoop loop;
  auto rogue = SSLContext::create(PROTOCOL_TLS_SERVER);
  rogue->load_cert_chain(pki().rogue_cert, pki().rogue_key);
  ServerRef server =
      run(loop, start_unix_server([](StreamReader, StreamWriter) {}, dir.file("rogue.sock"), {},
                                  100, true, SslOptions{rogue}));
  std::string failure = testing::failure_of(loop, [&]() -> Coro<int> {
    co_await open_unix_connection(dir.file("rogue.sock"), {}, unix_client_tls());
    co_return 0;
  }());
  run(loop, close_server(server));
  EXPECT_EQ(failure,
            "aio::tls::SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
            "verify failed: unable to get local issuer certificate");
}

// Cancellation at the await points TLS adds: open_connection cancelled at every step of its
// handshake (against a plain server that never answers, and against a TLS one), and reads
// cancelled mid-line over TLS keep their bytes.
TEST(StreamsTlsTest, OpenConnectionCancelledAtEveryStepOfTheHandshakeLeaksNothing) {
  TempDir dir;
  EventLoop loop;
  BlockEcho echo;
  run(loop, [&]() -> Coro<void> {
    ServerRef tls_server = co_await start_server(echo.callback(), tls_server_options());
    int completed = 0, cancelled = 0;
    for (int steps = 0; steps < 24; ++steps) {
      Task<Streams> open = create_task(open_connection(tls_to(port_of(tls_server))));
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
    }
    EXPECT_GT(cancelled, 0);
    EXPECT_GT(completed, 0);
    // A server that accepts and never speaks TLS: the handshake is what times out.
    ServerRef silent = co_await start_unix_server(
        [](StreamReader reader, StreamWriter writer) -> Coro<void> {
          while (!(co_await reader.read(4096)).empty()) {
          }  // the ClientHello, then EOF when the client gives up
          writer.close();
        },
        dir.file("silent.sock"));
    EXPECT_THROW(co_await aio::wait_for(
                     open_unix_connection(dir.file("silent.sock"), {}, unix_client_tls()), 0.1),
                 TimeoutError);
    co_await close_server(silent);
    co_await close_server(tls_server);  // waits until every accepted connection has gone
  }());
}

// On a virtual clock (both ends are in this loop): the timeouts race the writes in a fixed order.
TEST(StreamsTlsTest, ReadsCancelledMidLineOverTlsLoseNoByte) {
  EventLoop loop(aio::testing::virtual_time());
  std::vector<double> timeouts;  // the virtual instants at which the reads timed out
  run(loop, [&]() -> Coro<void> {
    ServerRef server = co_await start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          std::string got;
          auto timed_out = [&] {
            got += "T";
            timeouts.push_back(loop.time());
          };
          for (int i = 0; i < 2; ++i) {
            try {
              co_await aio::wait_for(reader.readline(), 0.02);
            } catch (const TimeoutError&) {
              timed_out();
            }
          }
          got += co_await reader.readline();
          try {
            co_await aio::wait_for(reader.readexactly(6), 0.02);
          } catch (const TimeoutError&) {
            timed_out();
          }
          got += co_await reader.readexactly(6);
          writer.write(got);
          writer.close();
        },
        tls_server_options());
    auto [reader, writer] = co_await open_connection(tls_to(port_of(server)));
    for (const char* piece : {"tls ", "part", "ial\nabc", "def"}) {
      writer.write(piece);
      co_await sleep(0.04);
    }
    EXPECT_EQ(co_await reader.read(), "TTtls partial\nTabcdef");
    writer.close();
    co_await writer.wait_closed();
    co_await close_server(server);
  }());
  // 0.02 s after each read started: two readlines from the handshake's end (virtual 0), the
  // readexactly from the "\n" written at 0.08.
  std::vector<double> expected = {0.02, 0.04, 0.10};
  ASSERT_EQ(timeouts.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(timeouts[i], expected[i], 1e-9);
}

// --- OpenSSL ---------------------------------------------------------------------------------

TEST(StreamsTlsTest, OpensslClientAgainstAnAioStreamsTlsServer) {
  if (!installed("openssl")) GTEST_SKIP() << "openssl is not installed";
  TempDir dir;
  const int count = 3000;  // ~170 KB
  std::string input = text_lines(count);
  write_file(dir.file("in"), input);
  EventLoop loop;
  int finished = 0;
  run(loop, [&]() -> Coro<void> {
    ServerRef server =
        co_await start_server(line_echo_then_bye(count, &finished), tls_server_options());
    // -quiet implies -ign_eof: s_client reads until the server's close_notify.
    PeerProcess client({"/bin/sh", "-c",
                        "exec openssl s_client -connect 127.0.0.1:" +
                            std::to_string(port_of(server)) + " -CAfile " + pki().ca_cert +
                            " -verify_return_error -verify_hostname localhost -servername "
                            "localhost -quiet < " +
                            dir.file("in") + " > " + dir.file("out") + " 2>" + dir.file("err")});
    EXPECT_EQ(co_await exit_code(client), 0) << read_file(dir.file("err"));
    co_await close_server(server);
  }());
  EXPECT_EQ(finished, 1);
  std::string output = read_file(dir.file("out"));
  EXPECT_TRUE(output == input + "bye\n") << output.size() << " bytes back";
}

TEST(StreamsTlsTest, AnAioStreamsClientAgainstOpensslServer) {
  if (!installed("openssl")) GTEST_SKIP() << "openssl is not installed";
  int port = free_loopback_port();
  // -rev: each line comes back reversed; one connection, then s_server exits.
  PeerProcess server({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                      "-cert", pki().server_cert, "-key", pki().server_key, "-rev", "-naccept", "1",
                      "-quiet"});
  EventLoop loop;
  run(loop, [&]() -> Coro<void> {
    std::optional<Streams> streams;
    for (int attempt = 0; !streams; ++attempt) {  // until s_server listens
      try {
        streams = co_await open_connection(tls_to(port));
      } catch (const ConnectionRefusedError&) {
        if (attempt == 500) throw;
      }
      if (!streams) co_await sleep(0.02);
    }
    auto [reader, writer] = std::move(*streams);
    EXPECT_EQ(std::any_cast<PeerCertificate>(writer.get_extra_info("peercert"))
                  .subject_field("commonName"),
              "localhost");
    int good = 0;
    for (int i = 0; i < 200; ++i) {
      std::string line = "openssl line " + std::to_string(i);
      writer.write(line + "\n");
      co_await writer.drain();
      std::string back = co_await reader.readline();
      std::reverse(line.begin(), line.end());
      if (back == line + "\n") ++good;
    }
    EXPECT_EQ(good, 200);
    writer.close();
    co_await writer.wait_closed();
    EXPECT_EQ(co_await exit_code(server), 0);
  }());
}

// --- CPython's asyncio streams over ssl --------------------------------------------------------

TEST(StreamsTlsTest, CPythonStreamsTlsClientAgainstAnAioStreamsTlsServer) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  TempDir dir;
  EventLoop loop;
  const std::string script = R"(
import asyncio, hashlib, ssl, sys
async def main(port, cafile, out):
    context = ssl.create_default_context(cafile=cafile)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                   server_hostname="localhost")
    got = []
    for i in range(500):
        writer.write(b"python tls line %d\n" % i)
        await writer.drain()
        got.append(await reader.readline())
    big = bytes(range(11, 256)) * 8560 + b"\n"  # 2 MiB, one line (the server's limit: 4 MiB)
    writer.write(big)
    await writer.drain()
    back = await reader.readexactly(len(big))
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    ok = all(got[i] == b"python tls line %d\n" % i for i in range(500))
    open(out, "w").write("%s %s %r" % (ok, back == big, rest))
asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
)";
  int finished = 0;
  run(loop, [&]() -> Coro<void> {
    ServerRef server =
        co_await start_server(line_echo_then_bye(501, &finished), tls_server_options(), 4 << 20);
    PeerProcess python(
        {"python3", "-c", script, std::to_string(port_of(server)), pki().ca_cert, dir.file("out")});
    EXPECT_EQ(co_await exit_code(python), 0) << "python3's exit code";
    co_await close_server(server);
  }());
  EXPECT_EQ(read_file(dir.file("out")), "True True b'bye\\n'");
  EXPECT_EQ(finished, 1);
}

TEST(StreamsTlsTest, AnAioStreamsTlsClientAgainstACPythonStreamsTlsServerOverUnix) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  TempDir dir;
  std::string path = dir.file("py-tls.sock");
  // CPython serves one TLS connection on a UNIX socket: each line upper-cased until "end\n",
  // then a count, then it closes and exits.
  const std::string script = R"(
import asyncio, ssl, sys
async def main(path, cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    done = asyncio.get_running_loop().create_future()
    async def handle(reader, writer):
        n = 0
        while (line := await reader.readline()) != b"end\n":
            writer.write(line.upper())
            await writer.drain()
            n += 1
        writer.write(b"%d lines\n" % n)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        done.set_result(None)
    server = await asyncio.start_unix_server(handle, path, ssl=context)
    await done
    server.close()
    await server.wait_closed()
asyncio.run(main(*sys.argv[1:4]))
)";
  PeerProcess python({"python3", "-c", script, path, pki().server_cert, pki().server_key});
  for (int i = 0; i < 1000 && !std::filesystem::exists(path) && python.running(); ++i) {
    ::usleep(10000);
  }
  ASSERT_TRUE(std::filesystem::exists(path)) << "python3 did not start its server";
  EventLoop loop;
  run(loop, [&]() -> Coro<void> {
    auto [reader, writer] = co_await open_unix_connection(path, {}, unix_client_tls());
    for (int i = 0; i < 500; ++i) {
      writer.write("aio tls line " + std::to_string(i) + "\n");
      if (i % 50 == 0) co_await writer.drain();
    }
    writer.write("end\n");
    co_await writer.drain();
    int good = 0;
    for (int i = 0; i < 500; ++i) {
      if (co_await reader.readline() == "AIO TLS LINE " + std::to_string(i) + "\n") ++good;
    }
    EXPECT_EQ(good, 500);
    EXPECT_EQ(co_await reader.readline(), "500 lines\n");
    EXPECT_EQ(co_await reader.read(), "");  // CPython's close_notify
    writer.close();
    co_await writer.wait_closed();
    EXPECT_EQ(co_await exit_code(python), 0);
  }());
}

}  // namespace
}  // namespace aio::tls
