// Load: 1,000 concurrent clients, each exchanging 1 MiB both ways through one aio echo server,
// all on one loop. Every client sends its own deterministic byte pattern and checks its echo byte
// by byte; the server must hold all 1,000 connections at once; every protocol keeps asyncio's
// callback contract (checked here with counters, since RecordingProtocol would keep 2 GiB of
// copies); the echo server pauses reading while its write buffer is above the high-water mark
// (asyncio's flow-control pattern), and a second run with small socket buffers makes sure both
// sides pause and resume; the fd-leak check linked into every test sees all 2,000 sockets closed
// at the end. In the first run the clients connect with host and port (1,000 connects in flight at
// once); in the small-buffer run each socket is connected first, then handed to create_connection
// as its sock.
//
// Both tests move the full 1 MiB each way per client in every build config. Measured on the
// 2-core machine with other builds running (load average 3-4), the @epoll and @poll targets side
// by side, each target (both tests) took 11-19 s in the default config, 23-31 s under ASan and
// 40 s under TSan (the small-buffer test is most of it), well within the medium timeout (300 s),
// so no config needs fewer bytes.
#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "net/net.h"
#include "testing/fd_count.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

constexpr int kClients = 1000;
constexpr std::size_t kBytesPerClient = 1024 * 1024;
// A client keeps at most this much unechoed data in flight, so that 1,000 clients cannot push a
// whole gigabyte into socket buffers at once (near its tcp_mem limit the kernel drops packets,
// even on loopback, and retransmits after 200 ms).
constexpr std::size_t kWindow = 512 * 1024;
constexpr std::size_t kChunk = 64 * 1024;

// The bytes every client sends: client c's byte at offset i is pattern[(i + shift(c)) % kPeriod].
// kPeriod is prime, so the 1,000 shifts are distinct and a byte delivered to the wrong client,
// or at the wrong offset, does not match. The table is stored twice over so that any run of up
// to kPeriod bytes is contiguous.
constexpr std::size_t kPeriod = 65537;

const std::vector<std::byte>& pattern() {
  static const std::vector<std::byte> table = [] {
    std::vector<std::byte> bytes(2 * kPeriod);
    std::uint32_t state = 2463534242u;  // xorshift32
    for (std::size_t i = 0; i < kPeriod; ++i) {
      state ^= state << 13;
      state ^= state >> 17;
      state ^= state << 5;
      bytes[i] = bytes[i + kPeriod] = static_cast<std::byte>(state >> 24);
    }
    return bytes;
  }();
  return table;
}

std::size_t shift(int client) { return static_cast<std::size_t>(client) * 7919 % kPeriod; }

// The next (at most `limit`) bytes of client `client`'s stream from `offset`.
std::span<const std::byte> pattern_at(int client, std::size_t offset, std::size_t limit) {
  std::size_t start = (offset + shift(client)) % kPeriod;
  return std::span<const std::byte>(pattern()).subspan(start, std::min(limit, kPeriod));
}

// asyncio's callback contract, checked with counters: made once and first, data only while
// connected, at most one eof, lost once and last, pause/resume alternating from pause.
class ContractChecker {
 public:
  void made() {
    EXPECT_EQ(state_, kNew);
    state_ = kConnected;
  }
  void data() { EXPECT_EQ(state_, kConnected) << "data after EOF or connection_lost"; }
  void eof() {
    EXPECT_EQ(state_, kConnected);
    state_ = kEof;
  }
  void lost(std::exception_ptr error) {
    EXPECT_TRUE(state_ == kConnected || state_ == kEof) << "lost twice or before made";
    EXPECT_EQ(error, nullptr) << describe_exception(error);
    saw_eof_ = state_ == kEof;
    state_ = kLost;
  }
  void pause() {
    EXPECT_FALSE(paused_);
    EXPECT_NE(state_, kLost);
    paused_ = true;
    ++pauses;
  }
  void resume() {
    EXPECT_TRUE(paused_);
    EXPECT_NE(state_, kLost);
    paused_ = false;
  }
  bool is_lost() const { return state_ == kLost; }
  bool saw_eof() const { return saw_eof_; }
  bool paused() const { return paused_; }
  int pauses = 0;

 private:
  enum State { kNew, kConnected, kEof, kLost } state_ = kNew;
  bool paused_ = false;
  bool saw_eof_ = false;
};

// The server side: writes back what it reads; stops reading while its peer is slow to take the
// echo (pause_writing) and starts again on resume_writing; closes after the client's EOF (once
// the echo is flushed).
class EchoProtocol : public Protocol {
 public:
  void connection_made(Transport& transport) override {
    contract.made();
    transport_ = TransportRef::share(&transport);
  }
  void data_received(std::span<const std::byte> data) override {
    contract.data();
    bytes += data.size();
    transport_->write(data);
  }
  bool eof_received() override {
    contract.eof();
    return false;
  }
  void pause_writing() override {
    contract.pause();
    transport_->pause_reading();
  }
  void resume_writing() override {
    contract.resume();
    transport_->resume_reading();
  }
  void connection_lost(std::exception_ptr error) override {
    contract.lost(error);
    transport_.reset();
  }

  ContractChecker contract;
  std::size_t bytes = 0;

 private:
  TransportRef transport_;
};

// A client: once told to start, sends its kBytesPerClient-byte pattern (keeping at most kWindow
// bytes unechoed, and stopping while paused), then write_eof(); checks every echoed byte.
class LoadClient : public Protocol {
 public:
  explicit LoadClient(int id) : id_(id) {}

  void connection_made(Transport& transport) override {
    contract.made();
    transport_ = TransportRef::share(&transport);
  }
  void start() {
    started_ = true;
    send_more();
  }
  void data_received(std::span<const std::byte> data) override {
    contract.data();
    while (!data.empty() && mismatch_at_ == kNone) {
      std::span<const std::byte> expected = pattern_at(id_, received, data.size());
      if (received + expected.size() > kBytesPerClient ||
          std::memcmp(data.data(), expected.data(), expected.size()) != 0) {
        mismatch_at_ = received;
        break;
      }
      received += expected.size();
      data = data.subspan(expected.size());
    }
    send_more();
  }
  bool eof_received() override {
    contract.eof();
    return false;
  }
  void pause_writing() override { contract.pause(); }
  void resume_writing() override {
    contract.resume();
    send_more();
  }
  void connection_lost(std::exception_ptr error) override {
    contract.lost(error);
    transport_.reset();
  }

  static constexpr std::size_t kNone = ~std::size_t{0};
  ContractChecker contract;
  std::size_t sent = 0;
  std::size_t received = 0;
  std::size_t mismatch_at() const { return mismatch_at_; }

 private:
  void send_more() {
    if (!started_ || !transport_ || transport_->is_closing()) return;
    while (sent < kBytesPerClient && !contract.paused() && sent - received < kWindow) {
      std::size_t room = std::min({kChunk, kBytesPerClient - sent, kWindow - (sent - received)});
      std::span<const std::byte> piece = pattern_at(id_, sent, room);
      transport_->write(piece);
      sent += piece.size();
    }
    if (sent == kBytesPerClient && !eof_sent_) {
      eof_sent_ = true;
      transport_->write_eof();
    }
  }

  int id_;
  bool started_ = false;
  bool eof_sent_ = false;
  std::size_t mismatch_at_ = kNone;
  TransportRef transport_;
};

// 1,000 clients and their 1,000 server sides need more than 2,000 fds.
void raise_fd_limit(rlim_t wanted) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(limit.rlim_max, wanted);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  ASSERT_GE(limit.rlim_cur, wanted) << "the hard RLIMIT_NOFILE is too low for this test";
}

// A client socket with small kernel buffers, connected (blocking: on loopback the kernel
// completes it from the listener's backlog) before create_connection takes it over. SO_RCVBUF
// must be set before connecting: it decides the TCP window the client advertises.
Socket small_buffer_client(std::uint16_t port, int buffer) {
  Socket sock = Socket::create(AF_INET, SOCK_STREAM);
  sock.setsockopt(SOL_SOCKET, SO_SNDBUF, buffer);
  sock.setsockopt(SOL_SOCKET, SO_RCVBUF, buffer);
  sock.setblocking(true);
  SocketAddress address = SocketAddress::ipv4("127.0.0.1", port);
  EXPECT_EQ(::connect(sock.fileno(), address.data(), address.size()), 0) << std::strerror(errno);
  sock.setblocking(false);
  return sock;
}

// Runs kClients clients against one echo server. `small_buffer` > 0: the clients' kernel buffers
// and the server sides' send buffers are that small, the server sides' receive buffers (both
// inherited from the listener) twice that. The server then reads more at once than its echo can
// leave, its write buffers go above the high-water mark, it pauses reading, its receive buffers
// fill up and the clients' writes back up in turn: flow control has to pause and resume both
// sides, over and over (about 5-9 pauses per server side and 10-14 per client).
void run_load(int small_buffer) {
  raise_fd_limit(2 * kClients + 256);
  if (::testing::Test::HasFatalFailure()) return;
  EventLoop loop;
  std::vector<std::shared_ptr<EchoProtocol>> echoes;
  ServerOptions options;
  options.hosts = {"127.0.0.1"};
  options.port = "0";
  options.backlog = 2 * kClients;  // no SYN retries while 1,000 clients connect at once
  ServerRef server = loop.run_until_complete(create_server(
      loop,
      [&] {
        echoes.push_back(std::make_shared<EchoProtocol>());
        return echoes.back();
      },
      std::move(options)));
  Socket listener = Socket::view(server->sockets().at(0).fileno());
  std::uint16_t port = listener.getsockname().port();
  const int fds_before = testing::open_fd_count();  // the loop's and the listener's among them
  if (small_buffer > 0) {
    listener.setsockopt(SOL_SOCKET, SO_SNDBUF, small_buffer);
    listener.setsockopt(SOL_SOCKET, SO_RCVBUF, 2 * small_buffer);
  }

  std::vector<std::shared_ptr<LoadClient>> clients;
  std::vector<TransportRef> transports;
  std::size_t peak = 0;
  auto connect_all = [&]() -> Coro<void> {
    std::vector<Coro<Connection<LoadClient>>> connecting;
    for (int id = 0; id < kClients; ++id) {
      ConnectionOptions options;
      if (small_buffer > 0) {
        options.sock = small_buffer_client(port, small_buffer);
      } else {
        options.host = "127.0.0.1";
        options.port = std::to_string(port);
      }
      connecting.push_back(create_connection<LoadClient>(
          loop, [id] { return std::make_shared<LoadClient>(id); }, std::move(options)));
    }
    std::vector<Connection<LoadClient>> connected = co_await gather(std::move(connecting));
    for (Connection<LoadClient>& connection : connected) {
      transports.push_back(std::move(connection.first));
      clients.push_back(std::move(connection.second));
    }
    // Every client is connected; wait until the server has accepted them all.
    while (server->active_connections() < static_cast<std::size_t>(kClients)) {
      co_await sleep(0.001);
    }
    peak = server->active_connections();
  };
  loop.run_until_complete(aio::wait_for(connect_all(), 60));
  ASSERT_EQ(clients.size(), static_cast<std::size_t>(kClients));
  EXPECT_EQ(peak, static_cast<std::size_t>(kClients)) << "all connections open at once";
  ASSERT_EQ(echoes.size(), static_cast<std::size_t>(kClients));
  EXPECT_EQ(testing::open_fd_count(), fds_before + 2 * kClients) << "one fd per side, no more";

  auto exchange = [&]() -> Coro<void> {
    for (auto& client : clients) client->start();
    auto all_lost = [&] {
      return std::all_of(clients.begin(), clients.end(),
                         [](const auto& client) { return client->contract.is_lost(); }) &&
             server->active_connections() == 0;
    };
    while (!all_lost()) co_await sleep(0.005);
  };
  loop.run_until_complete(aio::wait_for(exchange(), 240));

  int server_pauses = 0, client_pauses = 0;
  for (int id = 0; id < kClients; ++id) {
    LoadClient& client = *clients[id];
    EXPECT_EQ(client.mismatch_at(), LoadClient::kNone)
        << "client " << id << ": echo differs at byte " << client.mismatch_at();
    EXPECT_EQ(client.sent, kBytesPerClient) << "client " << id;
    EXPECT_EQ(client.received, kBytesPerClient) << "client " << id;
    EXPECT_TRUE(client.contract.saw_eof()) << "client " << id << ": the server's EOF";
    client_pauses += client.contract.pauses;
  }
  for (const auto& echo : echoes) {
    EXPECT_EQ(echo->bytes, kBytesPerClient);
    EXPECT_TRUE(echo->contract.is_lost());
    EXPECT_TRUE(echo->contract.saw_eof());
    server_pauses += echo->contract.pauses;
  }
  std::printf("%d clients x %zu bytes each way; pause_writing: %d on server sides, %d on clients\n",
              kClients, kBytesPerClient, server_pauses, client_pauses);
  if (small_buffer > 0) {
    EXPECT_GT(server_pauses, 0) << "the echo server's writes never backed up";
    EXPECT_GT(client_pauses, 0) << "the clients' writes never backed up";
  }
  transports.clear();
  EXPECT_EQ(testing::open_fd_count(), fds_before) << "every connection's fds closed";
  server->close();
  loop.run_until_complete(aio::wait_for(server->wait_closed(), 10));
  EXPECT_EQ(testing::open_fd_count(), fds_before - 1) << "and the listener's";
}

TEST(LoadTest, AThousandClientsEchoTheirBytesThroughOneServer) { run_load(0); }

TEST(LoadTest, AThousandClientsWithSmallSocketBuffersNeedFlowControl) { run_load(16 * 1024); }

}  // namespace
}  // namespace aio
