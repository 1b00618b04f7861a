// aio's TLS against the stacks users compare it with, as real processes: OpenSSL's s_client and
// s_server (also STARTTLS smtp and renegotiation attempts), CPython's ssl module (client and
// server, with unwrap for a clean shutdown, and its certificate decoding as the oracle for
// "peercert"), and GnuTLS's gnutls-cli and gnutls-serv. Certificates are made at test time.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "testing/peer_process.h"
#include "tls/tls_test_util.h"

namespace aio::tls {
namespace {

using aio::testing::find_program;
using aio::testing::free_loopback_port;
using aio::testing::PeerProcess;
using aio::testing::run_until;
using testing::close_server;
using testing::HandlerCalls;
using testing::pki;
using testing::port_of;
using testing::read_file;
using testing::RecordingFactory;
using testing::RecordingProtocol;
using testing::TempDir;

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

PeerProcess shell(const std::string& command) { return PeerProcess({"/bin/sh", "-c", command}); }

// Runs the loop while `peer` runs (at most `timeout` s) and returns its exit code (-1 if it did
// not exit normally or in time).
int run_until_exit(EventLoop& loop, PeerProcess& peer, double timeout = 30) {
  if (!run_until(loop, [&] { return !peer.running(); }, timeout)) return -1;
  int status = peer.wait(5);
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Waits until something listens on `port` (IPv4 or IPv6, any address; read from /proc/net, so
// that no probe connection is used up: s_server -naccept 1 would count it).
bool wait_listening(int port, const PeerProcess& peer, double timeout = 10) {
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, ":%04X", port);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  while (std::chrono::steady_clock::now() < deadline && peer.running()) {
    for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
      std::ifstream table(path);
      std::string line;
      while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        if (local.size() > 5 && local.substr(local.size() - 5) == wanted && state == "0A") {
          return true;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool installed(const std::string& program) { return !find_program(program).empty(); }

std::string lines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    text += "line " + std::to_string(i) + ": pack my box with five dozen liquor jugs\n";
  }
  return text;
}

// A server protocol that echoes and, once `expected` bytes came, writes "bye\n" and closes
// (sending close_notify), so a peer reading until the end knows it got everything.
RecordingFactory<> echo_then_bye(std::size_t expected) {
  RecordingFactory<> factory;
  factory.setup = [expected](RecordingProtocol& protocol) {
    protocol.on_data = [expected, &protocol](Transport& transport,
                                             std::span<const std::byte> data) {
      transport.write(data);
      if (protocol.received.size() == expected) {
        transport.write("bye\n");
        transport.close();
      }
    };
  };
  return factory;
}

ServerRef tls_server(EventLoop& loop, ProtocolFactory factory,
                     std::shared_ptr<SSLContext> context = pki().server_context()) {
  ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = "0";
  options.ssl = std::move(context);
  return loop.run_until_complete(create_server(loop, std::move(factory), std::move(options)));
}

ConnectionOptions tls_to(int port, std::shared_ptr<SSLContext> context = pki().client_context(),
                         std::string server_hostname = "localhost") {
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = std::to_string(port);
  options.ssl = std::move(context);
  options.server_hostname = std::move(server_hostname);
  return options;
}

// --- OpenSSL -------------------------------------------------------------------------------------

TEST(TlsPeersTest, OpensslClientVerifiesAioServerAndGetsEveryByteBack) {
  if (!installed("openssl")) GTEST_SKIP() << "openssl is not installed";
  TempDir dir;
  std::string input = lines(5000);  // ~250 KB
  write_file(dir.file("in"), input);
  EventLoop loop;
  RecordingFactory<> factory = echo_then_bye(input.size());
  ServerRef server = tls_server(loop, factory.factory());
  PeerProcess client =
      shell("exec openssl s_client -connect 127.0.0.1:" + std::to_string(port_of(server)) +
            " -CAfile " + pki().ca_cert +
            " -verify_return_error -verify_hostname localhost -servername "
            "localhost -quiet < " +
            dir.file("in") + " > " + dir.file("out") + " 2>" + dir.file("err"));
  EXPECT_EQ(run_until_exit(loop, client), 0) << read_file(dir.file("err"));
  EXPECT_TRUE(read_file(dir.file("out")) == input + "bye\n");
  ASSERT_EQ(factory.made.size(), 1u);
  ASSERT_TRUE(run_until(loop, [&] { return factory.made[0]->lost(); }));
  EXPECT_TRUE(factory.made[0]->received == input);
  close_server(loop, server);
}

TEST(TlsPeersTest, AioClientVerifiesOpensslServer) {
  if (!installed("openssl")) GTEST_SKIP() << "openssl is not installed";
  int port = free_loopback_port();
  PeerProcess server({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                      "-cert", pki().server_cert, "-key", pki().server_key, "-rev", "-naccept", "1",
                      "-quiet"});
  ASSERT_TRUE(wait_listening(port, server));
  EventLoop loop;
  RecordingFactory<> client;
  auto [transport, protocol] =
      loop.run_until_complete(create_connection(loop, client.factory(), tls_to(port)));
  transport->write("hello openssl\n");
  ASSERT_TRUE(run_until(loop, [&] { return client.made[0]->received == "lssnepo olleh\n"; }));
  EXPECT_EQ(std::any_cast<PeerCertificate>(transport->get_extra_info("peercert"))
                .subject_field("commonName"),
            "localhost");
  transport->close();
  ASSERT_TRUE(run_until(loop, [&] { return client.made[0]->lost(); }));
  EXPECT_EQ(client.made[0]->lost_error, nullptr);
  EXPECT_EQ(run_until_exit(loop, server), 0);
}

TEST(TlsPeersTest, OpensslClientWithAClientCertificateAndTls12) {
  if (!installed("openssl")) GTEST_SKIP() << "openssl is not installed";
  TempDir dir;
  write_file(dir.file("in"), "mutual\n");
  EventLoop loop;
  auto context = pki().server_context();
  context->set_verify_mode(VerifyMode::CERT_REQUIRED);
  context->load_verify_locations(pki().ca_cert);
  RecordingFactory<> factory = echo_then_bye(7);
  ServerRef server = tls_server(loop, factory.factory(), context);
  PeerProcess client =
      shell("exec openssl s_client -tls1_2 -connect 127.0.0.1:" + std::to_string(port_of(server)) +
            " -CAfile " + pki().ca_cert + " -cert " + pki().client_cert + " -key " +
            pki().client_key + " -verify_return_error -quiet < " + dir.file("in") + " > " +
            dir.file("out") + " 2>" + dir.file("err"));
  EXPECT_EQ(run_until_exit(loop, client), 0) << read_file(dir.file("err"));
  EXPECT_EQ(read_file(dir.file("out")), "mutual\nbye\n");
  ASSERT_EQ(factory.made.size(), 1u);
  ASSERT_TRUE(run_until(loop, [&] { return factory.made[0]->lost(); }));
  close_server(loop, server);
}

TEST(TlsPeersTest, AioServerRefusesOpensslClientRenegotiation) {
  if (!installed("openssl")) GTEST_SKIP() << "openssl is not installed";
  TempDir dir;
  EventLoop loop;
  RecordingFactory<> factory;
  ServerRef server = tls_server(loop, factory.factory());
  // "R" on s_client's stdin (without -quiet) asks for a renegotiation (TLS 1.2).
  PeerProcess client = shell(
      "(sleep 1; echo R; sleep 3) | exec openssl s_client -tls1_2 "
      "-connect 127.0.0.1:" +
      std::to_string(port_of(server)) + " -CAfile " + pki().ca_cert + " > " + dir.file("out") +
      " 2>&1");
  ASSERT_TRUE(
      run_until(loop, [&] { return !factory.made.empty() && factory.made[0]->lost(); }, 20));
  EXPECT_EQ(factory.made[0]->trace(),
            "made lost:aio::tls::SSLError: [SSL: NO_RENEGOTIATION] no renegotiation");
  run_until_exit(loop, client);
  close_server(loop, server);
}

TEST(TlsPeersTest, AioClientRefusesOpensslServerRenegotiation) {
  if (!installed("openssl")) GTEST_SKIP() << "openssl is not installed";
  int port = free_loopback_port();
  // "r" on s_server's stdin sends a HelloRequest.
  PeerProcess server = shell(
      "(sleep 2; echo r; sleep 3) | exec openssl s_server -tls1_2 -accept "
      "127.0.0.1:" +
      std::to_string(port) + " -cert " + pki().server_cert + " -key " + pki().server_key +
      " -naccept 1 > /dev/null 2>&1");
  ASSERT_TRUE(wait_listening(port, server));
  EventLoop loop;
  HandlerCalls handler(loop);
  RecordingFactory<> client;
  auto connection =
      loop.run_until_complete(create_connection(loop, client.factory(), tls_to(port)));
  ASSERT_TRUE(run_until(loop, [&] { return client.made[0]->lost(); }, 20));
  EXPECT_EQ(client.made[0]->trace(),
            "made lost:aio::tls::SSLError: [SSL: NO_RENEGOTIATION] no renegotiation");
  EXPECT_TRUE(handler.messages.empty());
  run_until_exit(loop, server);
}

// An SMTP-ish server that upgrades with start_tls after "STARTTLS", as s_client -starttls smtp
// expects, then echoes.
struct Smtp {
  EventLoop* loop;
  std::vector<TransportRef> secure;
  std::string after_tls;
  std::size_t expected = 0;
  bool upgrading = false;
  std::string early;
};

// Echoes `data` over TLS; closes once everything came.
void echo_secure(Smtp* smtp, std::span<const std::byte> data) {
  smtp->after_tls.append(reinterpret_cast<const char*>(data.data()), data.size());
  smtp->secure[0]->write(data);
  if (smtp->after_tls.size() == smtp->expected) smtp->secure[0]->close();
}

Coro<void> upgrade(Smtp* smtp, TransportRef transport, std::shared_ptr<BaseProtocol> protocol) {
  smtp->secure.push_back(co_await start_tls(*smtp->loop, std::move(transport), std::move(protocol),
                                            pki().server_context(), true));
  // Plaintext that reached the protocol before start_tls returned.
  std::string early = std::move(smtp->early);
  if (!early.empty()) echo_secure(smtp, std::as_bytes(std::span<const char>(early)));
}

TEST(TlsPeersTest, OpensslStarttlsSmtpAgainstAioStartTls) {
  if (!installed("openssl")) GTEST_SKIP() << "openssl is not installed";
  TempDir dir;
  std::string input = lines(50);
  write_file(dir.file("in"), input);
  EventLoop loop;
  Smtp smtp{&loop, {}, {}, input.size(), false, {}};
  RecordingFactory<> factory;
  factory.setup = [&](RecordingProtocol& protocol) {
    protocol.on_made = [](Transport& transport) { transport.write("220 aio ESMTP ready\r\n"); };
    protocol.on_data = [&](Transport& transport, std::span<const std::byte> data) {
      if (!smtp.secure.empty()) {
        echo_secure(&smtp, data);
        return;
      }
      if (smtp.upgrading) {  // decrypted, but start_tls has not returned yet
        smtp.early.append(reinterpret_cast<const char*>(data.data()), data.size());
        return;
      }
      const std::string& seen = protocol.received;
      if (seen.find("STARTTLS\r\n") != std::string::npos) {
        // Nothing more reaches this plain protocol: the next bytes are the ClientHello.
        smtp.upgrading = true;
        transport.pause_reading();
        transport.write("220 2.0.0 Ready to start TLS\r\n");
        loop.create_task(upgrade(&smtp, TransportRef::share(&transport), factory.made.back()));
      } else if (seen.find("EHLO") != std::string::npos && seen.back() == '\n') {
        transport.write("250-aio greets you\r\n250 STARTTLS\r\n");
      }
    };
  };
  ServerRef server =
      loop.run_until_complete(create_server(loop, factory.factory(), "127.0.0.1", 0));
  PeerProcess client = shell(
      "exec openssl s_client -starttls smtp -connect 127.0.0.1:" + std::to_string(port_of(server)) +
      " -CAfile " + pki().ca_cert + " -verify_return_error -quiet < " + dir.file("in") + " > " +
      dir.file("out") + " 2>" + dir.file("err"));
  EXPECT_EQ(run_until_exit(loop, client), 0) << read_file(dir.file("err"));
  EXPECT_TRUE(read_file(dir.file("out")) == input) << read_file(dir.file("out")).size();
  EXPECT_TRUE(smtp.after_tls == input);
  ASSERT_EQ(factory.made.size(), 1u);
  ASSERT_TRUE(run_until(loop, [&] { return factory.made[0]->lost(); }));
  EXPECT_EQ(factory.made[0]->events.front(), "made");  // once, before the upgrade only
  close_server(loop, server);
}

// --- CPython's ssl module ------------------------------------------------------------------------

// Python's repr of our PeerCertificate (the getpeercert() dict).
std::string python_repr(const PeerCertificate& cert) {
  auto quote = [](const std::string& text) { return "'" + text + "'"; };
  auto name = [&](const std::vector<RDN>& rdns) {
    std::string out = "(";
    for (const RDN& rdn : rdns) {
      out += "(";
      for (const auto& [key, value] : rdn) out += "(" + quote(key) + ", " + quote(value) + "),";
      out += "), ";
    }
    if (!rdns.empty()) out.resize(out.size() - 2);
    if (rdns.size() == 1) out += ",";
    return out + ")";
  };
  std::string out = "{'subject': " + name(cert.subject) + ", 'issuer': " + name(cert.issuer) +
                    ", 'version': " + std::to_string(cert.version) +
                    ", 'serialNumber': " + quote(cert.serialNumber) +
                    ", 'notBefore': " + quote(cert.notBefore) +
                    ", 'notAfter': " + quote(cert.notAfter);
  if (!cert.subjectAltName.empty()) {
    out += ", 'subjectAltName': (";
    for (const auto& [kind, value] : cert.subjectAltName) {
      out += "(" + quote(kind) + ", " + quote(value) + "), ";
    }
    out.resize(out.size() - 2);
    if (cert.subjectAltName.size() == 1) out += ",";
    out += ")";
  }
  return out + "}";
}

TEST(TlsPeersTest, PeercertReadsAsCpythonDecodesIt) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  EventLoop loop;
  ServerRef server = tls_server(loop, testing::echo_protocols());
  RecordingFactory<> client;
  auto [transport, protocol] =
      loop.run_until_complete(create_connection(loop, client.factory(), tls_to(port_of(server))));
  auto cert = std::any_cast<PeerCertificate>(transport->get_extra_info("peercert"));
  // Python compares the values (a round trip through ast normalises tuple punctuation).
  TempDir dir;
  std::string ours = python_repr(cert);
  write_file(dir.file("ours"), ours);
  write_file(dir.file("check.py"),
             "import ast, ssl, sys\n"
             "ours = ast.literal_eval(open(sys.argv[1]).read())\n"
             "theirs = ssl._ssl._test_decode_cert(sys.argv[2])\n"
             "print(ours == theirs, theirs, file=open(sys.argv[3], 'w'))\n");
  PeerProcess python(
      {"python3", dir.file("check.py"), dir.file("ours"), pki().server_cert, dir.file("result")});
  EXPECT_EQ(python.wait(20), 0);
  std::string oracle = read_file(dir.file("result"));
  EXPECT_EQ(oracle.substr(0, 5), "True ") << "ours: " << ours << "\npython: " << oracle;
  transport->close();
  run_until(loop, [&] { return client.made[0]->lost(); });
  close_server(loop, server);
}

TEST(TlsPeersTest, PythonSslClientUnwrapsCleanlyFromAioServer) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  TempDir dir;
  EventLoop loop;
  RecordingFactory<> factory;
  factory.setup = [](RecordingProtocol& protocol) {
    protocol.on_data = [](Transport& transport, std::span<const std::byte> data) {
      transport.write(data);
    };
    protocol.on_eof = [](Transport& transport) { return false; };  // close_notify: we close
  };
  ServerRef server = tls_server(loop, factory.factory());
  write_file(dir.file("client.py"),
             "import socket, ssl, sys\n"
             "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
             "raw = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
             "s = ctx.wrap_socket(raw, server_hostname='localhost')\n"
             "data = bytes(range(256)) * 4096\n"
             "s.sendall(data)\n"
             "got = b''\n"
             "while len(got) < len(data):\n"
             "    got += s.recv(65536)\n"
             "version = s.version()\n"
             "plain = s.unwrap()  # our close_notify, then the server's\n"
             "print(got == data, version, file=open(sys.argv[3], 'w'))\n"
             "plain.close()\n");
  PeerProcess client({"python3", dir.file("client.py"), std::to_string(port_of(server)),
                      pki().ca_cert, dir.file("result")});
  EXPECT_EQ(run_until_exit(loop, client), 0);
  EXPECT_EQ(read_file(dir.file("result")), "True TLSv1.3\n");
  ASSERT_TRUE(run_until(loop, [&] { return factory.made.at(0)->lost(); }));
  EXPECT_EQ(factory.made[0]->trace(), "made data eof lost");
  EXPECT_EQ(factory.made[0]->lost_error, nullptr);
  close_server(loop, server);
}

TEST(TlsPeersTest, AioClientAgainstPythonSslServerThatUnwraps) {
  if (!installed("python3")) GTEST_SKIP() << "python3 is not installed";
  TempDir dir;
  int port = free_loopback_port();
  write_file(dir.file("server.py"),
             "import socket, ssl, sys\n"
             "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
             "ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n"
             "ctx.verify_mode = ssl.CERT_REQUIRED\n"
             "ctx.load_verify_locations(sys.argv[4])\n"
             "ctx.set_alpn_protocols(['echo/1'])\n"
             "listener = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
             "conn, _ = listener.accept()\n"
             "s = ctx.wrap_socket(conn, server_side=True)\n"
             "got = b''\n"
             "while not got.endswith(b'END'):\n"
             "    got += s.recv(65536)\n"
             "s.sendall(got[::-1])\n"
             "cn = dict(x[0] for x in s.getpeercert()['subject'])['commonName']\n"
             "alpn = s.selected_alpn_protocol()\n"
             "plain = s.unwrap()  # sends close_notify, waits for the client's\n"
             "print(cn, alpn, len(got), file=open(sys.argv[5], 'w'))\n"
             "plain.close()\n");
  PeerProcess server({"python3", dir.file("server.py"), std::to_string(port), pki().server_cert,
                      pki().server_key, pki().ca_cert, dir.file("result")});
  ASSERT_TRUE(wait_listening(port, server));
  EventLoop loop;
  auto context = pki().client_context();
  context->load_cert_chain(pki().client_cert, pki().client_key);
  context->set_alpn_protocols({"echo/1"});
  RecordingFactory<> client;
  auto [transport, protocol] =
      loop.run_until_complete(create_connection(loop, client.factory(), tls_to(port, context)));
  std::string data = testing::pattern(1 << 20, 9) + "END";
  transport->write(data);
  RecordingProtocol& recorded = *client.made[0];
  ASSERT_TRUE(run_until(loop, [&] { return recorded.lost(); }, 30));
  EXPECT_TRUE(recorded.received == std::string(data.rbegin(), data.rend()));
  // The server's close_notify: eof_received, then our close_notify, then connection_lost.
  EXPECT_EQ(recorded.trace(), "made data eof lost");
  EXPECT_EQ(recorded.lost_error, nullptr);
  EXPECT_EQ(run_until_exit(loop, server), 0);
  EXPECT_EQ(read_file(dir.file("result")),
            "aio-client echo/1 " + std::to_string(data.size()) + "\n");
}

// --- GnuTLS --------------------------------------------------------------------------------------

TEST(TlsPeersTest, GnutlsClientAgainstAioServer) {
  if (!installed("gnutls-cli")) GTEST_SKIP() << "gnutls-cli is not installed (gnutls-bin)";
  TempDir dir;
  std::string input = lines(3000);
  write_file(dir.file("in"), input);
  EventLoop loop;
  RecordingFactory<> factory = echo_then_bye(input.size());
  ServerRef server = tls_server(loop, factory.factory());
  PeerProcess client = shell("exec gnutls-cli --x509cafile=" + pki().ca_cert +
                             " --port=" + std::to_string(port_of(server)) + " localhost < " +
                             dir.file("in") + " > " + dir.file("out") + " 2>" + dir.file("err"));
  // gnutls-cli resolves "localhost": it may try ::1 first, where nothing listens.
  EXPECT_EQ(run_until_exit(loop, client), 0) << read_file(dir.file("err"));
  std::string out = read_file(dir.file("out"));
  EXPECT_NE(out.find(input + "bye\n"), std::string::npos) << out.size();
  ASSERT_EQ(factory.made.size(), 1u);
  ASSERT_TRUE(run_until(loop, [&] { return factory.made[0]->lost(); }));
  EXPECT_TRUE(factory.made[0]->received == input);
  close_server(loop, server);
}

TEST(TlsPeersTest, AioClientAgainstGnutlsEchoServer) {
  if (!installed("gnutls-serv")) GTEST_SKIP() << "gnutls-serv is not installed (gnutls-bin)";
  int port = free_loopback_port();
  PeerProcess server({"gnutls-serv", "--echo", "--port=" + std::to_string(port),
                      "--x509certfile=" + pki().server_cert, "--x509keyfile=" + pki().server_key},
                     /*quiet=*/true);
  ASSERT_TRUE(wait_listening(port, server));
  EventLoop loop;
  RecordingFactory<> client;
  auto [transport, protocol] =
      loop.run_until_complete(create_connection(loop, client.factory(), tls_to(port)));
  std::string data = lines(2000);
  transport->write(data);
  ASSERT_TRUE(run_until(loop, [&] { return client.made[0]->received.size() >= data.size(); }))
      << client.made[0]->received.size() << " of " << data.size() << ": "
      << client.made[0]->received.substr(0, 200);
  EXPECT_TRUE(client.made[0]->received == data);
  transport->close();
  ASSERT_TRUE(run_until(loop, [&] { return client.made[0]->lost(); }));
  EXPECT_EQ(client.made[0]->lost_error, nullptr);
}

}  // namespace
}  // namespace aio::tls
