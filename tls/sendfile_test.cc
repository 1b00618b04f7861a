// loop.sendfile on a TLS transport: asyncio's _SendfileMode.FALLBACK (read + write, every byte
// encrypted), with the bytes verified at the TLS server, offset/count, the file position
// afterwards, flow control (the file is not read ahead of a stalled peer), order with the
// writes around it, and the errors (fallback=false, a closing transport, a peer leaving).
#include "net/sendfile.h"

#include <fcntl.h>
#include <unistd.h>

#include "net/file.h"
#include "tls/tls_test_util.h"

namespace aio::tls {
namespace {

using aio::testing::error_message;
using aio::testing::run_until;
using testing::close_server;
using testing::HandlerCalls;
using testing::pattern;
using testing::pki;
using testing::port_of;
using testing::RecordingFactory;
using testing::RecordingProtocol;
using testing::TempDir;

// A regular file of `size` patterned bytes in a temporary directory.
struct SourceFile {
  TempDir dir;
  std::string path = dir.file("source.bin");
  std::string contents;
  explicit SourceFile(std::size_t size) : contents(pattern(size, 3)) {
    File file = File::open(path, O_WRONLY | O_CREAT | O_TRUNC);
    EXPECT_EQ(::write(file.fileno(), contents.data(), size), static_cast<ssize_t>(size));
  }
  File open() const { return File::open(path, O_RDONLY); }
};

// A TLS server recording what it receives and a TLS client connected to it.
struct TlsPair {
  EventLoop& loop;
  RecordingFactory<> server_side;
  ServerRef server;
  RecordingFactory<> client_side;
  TransportRef transport;

  explicit TlsPair(EventLoop& loop, std::function<void(RecordingProtocol&)> setup = nullptr)
      : loop(loop) {
    server_side.setup = std::move(setup);
    ServerOptions options;
    options.hosts = {"127.0.0.1"};
    options.port = "0";
    options.ssl = pki().server_context();
    server =
        loop.run_until_complete(create_server(loop, server_side.factory(), std::move(options)));
    ConnectionOptions to;
    to.host = "127.0.0.1";
    to.port = std::to_string(port_of(server));
    to.ssl = pki().client_context();
    transport =
        loop.run_until_complete(
                aio::wait_for(create_connection(loop, client_side.factory(), std::move(to)), 20))
            .first;
    EXPECT_TRUE(run_until(loop, [&] { return !server_side.made.empty(); }));
  }
  RecordingProtocol& client() { return *client_side.made.at(0); }
  RecordingProtocol& server_protocol() { return *server_side.made.at(0); }

  // Closes the client and waits until both ends have seen connection_lost.
  void finish() {
    transport->close();
    EXPECT_TRUE(run_until(loop, [&] { return client().lost() && server_protocol().lost(); }));
    close_server(loop, server);
  }
};

TEST(TlsSendfileTest, FallsBackAndSendsExactlyTheSliceInOrderWithTheWritesAround) {
  EventLoop loop;
  HandlerCalls handler(loop);
  SourceFile source(1 << 20);
  TlsPair pair(loop);
  File file = source.open();
  pair.transport->write("HEAD");
  // A user write while the fallback runs is refused (aio's rule for every transport).
  std::string refused;
  std::function<void()> try_write = [&] {
    if (pair.transport->get_protocol() == pair.client_side.made[0]) {
      loop.call_soon(try_write);  // not started yet
      return;
    }
    refused = error_message([&] { pair.transport->write("no"); });
  };
  loop.call_soon(try_write);
  std::size_t sent = loop.run_until_complete(
      aio::wait_for(sendfile(loop, *pair.transport, file, 1000, 600000), 30));
  EXPECT_EQ(sent, 600000u);
  EXPECT_EQ(file.tell(), 601000);  // offset + bytes sent
  EXPECT_EQ(refused, "unable to write; sendfile is in progress");
  EXPECT_EQ(pair.transport->get_protocol(), pair.client_side.made[0]) << "protocol restored";
  EXPECT_TRUE(pair.transport->is_reading()) << "reading resumed";
  pair.transport->write("TAIL");
  std::string expected = "HEAD" + source.contents.substr(1000, 600000) + "TAIL";
  ASSERT_TRUE(run_until(
      loop, [&] { return pair.server_protocol().received.size() >= expected.size(); }, 30));
  EXPECT_TRUE(pair.server_protocol().received == expected);
  // The client still reads after the swap back: the server's reply reaches the user protocol.
  dynamic_cast<Transport*>(pair.server_protocol().transport())->write("reply");
  ASSERT_TRUE(run_until(loop, [&] { return pair.client().received == "reply"; }));
  pair.finish();
  EXPECT_EQ(pair.client().trace(), "made data lost");
  EXPECT_TRUE(handler.messages.empty()) << handler.messages.at(0);
}

TEST(TlsSendfileTest, WithoutCountSendsToTheEndFromTheOffset) {
  EventLoop loop;
  SourceFile source(300001);
  TlsPair pair(loop);
  File file = source.open();
  std::size_t sent =
      loop.run_until_complete(aio::wait_for(sendfile(loop, *pair.transport, file, 17), 30));
  EXPECT_EQ(sent, 300001u - 17);
  EXPECT_EQ(file.tell(), 300001);
  ASSERT_TRUE(run_until(loop, [&] { return pair.server_protocol().received.size() >= sent; }));
  EXPECT_TRUE(pair.server_protocol().received == source.contents.substr(17));
  // With offset 0 the fallback reads from the file's current position (CPython's
  // `if offset: file.seek(offset)`): at EOF now, so nothing more is sent.
  EXPECT_EQ(loop.run_until_complete(aio::wait_for(sendfile(loop, *pair.transport, file), 30)), 0u);
  EXPECT_EQ(file.tell(), 300001);
  file.seek(0);
  sent = loop.run_until_complete(aio::wait_for(sendfile(loop, *pair.transport, file), 30));
  EXPECT_EQ(sent, 300001u);
  ASSERT_TRUE(
      run_until(loop, [&] { return pair.server_protocol().received.size() >= 2 * 300001 - 17; }));
  EXPECT_TRUE(pair.server_protocol().received == source.contents.substr(17) + source.contents);
  pair.finish();
}

TEST(TlsSendfileTest, AStalledPeerStopsTheFileReadsAtTheHighWaterMark) {
  EventLoop loop;
  const std::size_t size = 32 << 20;
  SourceFile source(size);
  TlsPair pair(loop, [](RecordingProtocol& protocol) {
    protocol.on_made = [](Transport& transport) { transport.pause_reading(); };
  });
  pair.transport->set_write_buffer_limits(64 * 1024);
  File file = source.open();
  Task<std::size_t> sending = loop.create_task(sendfile(loop, *pair.transport, file));
  // The kernel's buffers fill, then the TLS transport's: the fallback must stop reading the
  // file there (without waiting on pause_writing it would buffer the whole 32 MiB).
  ASSERT_TRUE(
      run_until(loop, [&] { return pair.transport->get_write_buffer_size() > 64 * 1024; }, 30));
  // At most the block being read when pause_writing came still lands (asyncio reads, then
  // drains, then writes); after that the position stays put.
  std::int64_t position = file.tell();
  loop.run_until_complete(sleep(0.3));
  EXPECT_LE(file.tell() - position, 16 * 1024) << "the file was read on while the peer stalled";
  EXPECT_LE(pair.transport->get_write_buffer_size(), 64 * 1024 + 16 * 1024 + 32 * 1024);
  EXPECT_FALSE(sending.done());
  pair.server_protocol().transport()->resume_reading();
  EXPECT_EQ(loop.run_until_complete(aio::wait_for(sending, 60)), size);
  ASSERT_TRUE(run_until(loop, [&] { return pair.server_protocol().received.size() >= size; }, 60));
  EXPECT_TRUE(pair.server_protocol().received == source.contents);
  // The user protocol never saw the fallback's pause/resume (RecordingProtocol checks the
  // alternation it did see).
  EXPECT_EQ(pair.client().trace(), "made");
  pair.finish();
}

TEST(TlsSendfileTest, APeerLeavingMidwayIsAnErrorAndThePositionIsWhatWasWritten) {
  EventLoop loop;
  const std::size_t size = 32 << 20;
  SourceFile source(size);
  TlsPair pair(loop, [](RecordingProtocol& protocol) {
    protocol.on_data = [&protocol](Transport& transport, std::span<const std::byte>) {
      if (protocol.received.size() >= 256 * 1024) transport.abort();
    };
  });
  File file = source.open();
  std::string failure = testing::failure_of(loop, sendfile(loop, *pair.transport, file));
  EXPECT_TRUE(failure.rfind("aio::ConnectionResetError", 0) == 0 ||
              failure.rfind("aio::BrokenPipeError", 0) == 0 ||
              failure.rfind("aio::ConnectionError", 0) == 0)
      << failure;
  EXPECT_GE(file.tell(), 256 * 1024);
  EXPECT_LT(file.tell(), static_cast<std::int64_t>(size));
  // The user's protocol heard of it, once, with the error.
  ASSERT_TRUE(run_until(loop, [&] { return pair.client().lost(); }));
  EXPECT_EQ(pair.client().trace().rfind("made lost:aio::", 0), 0u) << pair.client().trace();
  EXPECT_EQ(pair.client().trace().find("lost", 10), std::string::npos) << pair.client().trace();
  EXPECT_TRUE(pair.server_protocol().lost());
  close_server(loop, pair.server);
}

TEST(TlsSendfileTest, FallbackDisabledClosingAndBadArgumentsAreAsynciosErrors) {
  EventLoop loop;
  SourceFile source(100);
  TlsPair pair(loop);
  File file = source.open();
  std::string disabled = error_message([&] {
    loop.run_until_complete(sendfile(loop, *pair.transport, file, 0, std::nullopt, false));
  });
  EXPECT_EQ(
      disabled.rfind("fallback is disabled and native sendfile is not supported for transport "
                     "<SslTransport",
                     0),
      0u)
      << disabled;
  EXPECT_EQ(
      error_message([&] { loop.run_until_complete(sendfile(loop, *pair.transport, file, -1)); }),
      "offset must be a non-negative integer (got -1)");
  EXPECT_EQ(
      error_message([&] { loop.run_until_complete(sendfile(loop, *pair.transport, file, 0, 0)); }),
      "count must be a positive integer (got 0)");
  EXPECT_EQ(file.tell(), 0) << "nothing was read";
  pair.finish();
  EXPECT_EQ(error_message([&] { loop.run_until_complete(sendfile(loop, *pair.transport, file)); }),
            "Transport is closing");
  EXPECT_EQ(pair.server_protocol().received, "");
}

}  // namespace
}  // namespace aio::tls
