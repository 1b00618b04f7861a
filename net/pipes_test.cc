// connect_read_pipe / connect_write_pipe on pipes, FIFOs, sockets, character devices and PTYs.
#include "net/pipes.h"

#include <fcntl.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "net/socket.h"
#include "testing/loop_test_util.h"
#include "testing/peer_process.h"
#include "testing/protocol_recorder.h"

namespace aio {
namespace {

using testing::read_some;
using testing::RecordingProtocol;
using testing::run_until;

void run_once(EventLoop& loop) { loop.run_until_complete(sleep(0)); }

std::string read_all_available(int fd) {
  std::string data;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return data;
    data.append(buffer, static_cast<size_t>(n));
  }
}

// A write-pipe protocol recording pause/resume/lost (RecordingProtocol is a stream protocol,
// which a write pipe accepts too).
using Recorder = std::shared_ptr<RecordingProtocol>;

template <class Transport>
std::pair<internal::Ref<Transport>, Recorder> connect(EventLoop& loop, File pipe, bool read) {
  Recorder protocol = std::make_shared<RecordingProtocol>();
  auto factory = [protocol] { return std::shared_ptr<BaseProtocol>(protocol); };
  if constexpr (std::is_same_v<Transport, ReadPipeTransport>) {
    auto made = loop.run_until_complete(connect_read_pipe(loop, factory, std::move(pipe)));
    return {made.first, protocol};
  } else {
    auto made = loop.run_until_complete(connect_write_pipe(loop, factory, std::move(pipe)));
    return {made.first, protocol};
  }
}

TEST(ReadPipeTest, DataThenEofThenConnectionLost) {
  EventLoop loop;
  auto [reader, writer] = File::pipe();
  auto [transport, protocol] = connect<ReadPipeTransport>(loop, std::move(reader), true);
  EXPECT_EQ(protocol->trace(), "made") << "connection_made has run when connect returns";
  ASSERT_EQ(::write(writer.fileno(), "abc", 3), 3);
  writer.close();
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_EQ(protocol->received, "abc");
  EXPECT_EQ(protocol->trace(), "made data eof lost");
  EXPECT_EQ(protocol->lost_error, nullptr);
}

TEST(ReadPipeTest, RegularFilesAreRefused) {
  EventLoop loop;
  std::string path = "/tmp/aio-pipes-regular-" + std::to_string(::getpid());
  std::ofstream(path) << "data";
  auto factory = [] { return std::make_shared<RecordingProtocol>(); };
  EXPECT_EQ(testing::error_message([&] {
              loop.run_until_complete(connect_read_pipe(loop, factory, File::open(path, O_RDONLY)));
            }),
            "Pipe transport is for pipes/sockets only.");
  EXPECT_EQ(
      testing::error_message([&] {
        loop.run_until_complete(connect_write_pipe(loop, factory, File::open(path, O_WRONLY)));
      }),
      "Pipe transport is only for pipes, sockets and character devices");
  ::unlink(path.c_str());
}

TEST(ReadPipeTest, ARefusedFileStaysTheCallersOpenAndUntouched) {
  EventLoop loop;
  std::string path = "/tmp/aio-pipes-kept-" + std::to_string(::getpid());
  std::ofstream(path) << "data";
  auto factory = [] { return std::make_shared<RecordingProtocol>(); };
  for (bool read_end : {true, false}) {
    File file = File::open(path, read_end ? O_RDONLY : O_WRONLY);
    int fd = file.fileno();
    int flags = ::fcntl(fd, F_GETFL);
    if (read_end) {
      EXPECT_THROW(loop.run_until_complete(connect_read_pipe(loop, factory, file)), ValueError);
    } else {
      EXPECT_THROW(loop.run_until_complete(connect_write_pipe(loop, factory, file)), ValueError);
    }
    EXPECT_EQ(file.fileno(), fd) << "nothing was taken over";
    EXPECT_EQ(::fcntl(fd, F_GETFL), flags) << "still open, still blocking";
    if (read_end) {
      char buffer[8] = {};
      EXPECT_EQ(::read(fd, buffer, sizeof buffer), 4) << "and usable";
    }
  }
  ::unlink(path.c_str());
}

TEST(ReadPipeTest, FifosAndSocketsWork) {
  EventLoop loop;
  std::string path = "/tmp/aio-pipes-fifo-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  File read_end = File::open(path, O_RDONLY | O_NONBLOCK);
  File write_end = File::open(path, O_WRONLY);
  auto [transport, protocol] = connect<ReadPipeTransport>(loop, std::move(read_end), true);
  ASSERT_EQ(::write(write_end.fileno(), "fifo", 4), 4);
  write_end.close();
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_EQ(protocol->received, "fifo");
  ::unlink(path.c_str());

  auto [mine, theirs] = Socket::pair();
  auto [socket_transport, socket_protocol] =
      connect<ReadPipeTransport>(loop, File(mine.detach()), true);
  ::send(theirs.fileno(), "sock", 4, 0);
  theirs.close();
  run_until(loop, [&] { return socket_protocol->lost(); });
  EXPECT_EQ(socket_protocol->received, "sock");
  EXPECT_EQ(socket_protocol->trace(), "made data eof lost");
}

TEST(ReadPipeTest, PtyMasterWhoseSlaveClosedIsEof) {
  EventLoop loop;
  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  File slave_file(slave);
  auto [transport, protocol] = connect<ReadPipeTransport>(loop, File(master), true);
  ASSERT_EQ(::write(slave_file.fileno(), "tty\n", 4), 4);
  run_until(loop, [&] { return protocol->received.find("tty") != std::string::npos; });
  slave_file.close();  // the master now reads EIO
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_EQ(protocol->trace(), "made data eof lost");
  EXPECT_EQ(protocol->lost_error, nullptr) << "EIO from a PTY is the end of the data";
}

TEST(ReadPipeTest, PauseAndResumeReadingAreIdempotentAndNoOpsOnceClosed) {
  EventLoop loop;
  auto [reader, writer] = File::pipe();
  auto [transport, protocol] = connect<ReadPipeTransport>(loop, std::move(reader), true);
  transport->pause_reading();
  transport->pause_reading();
  EXPECT_FALSE(transport->is_reading());
  ASSERT_EQ(::write(writer.fileno(), "x", 1), 1);
  for (int i = 0; i < 5; ++i) run_once(loop);
  EXPECT_EQ(protocol->received, "");
  transport->resume_reading();
  transport->resume_reading();
  run_until(loop, [&] { return protocol->received == "x"; });
  transport->close();
  transport->pause_reading();
  transport->resume_reading();
  EXPECT_FALSE(transport->is_reading());
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_EQ(protocol->trace(), "made data lost");
}

TEST(WritePipeTest, CloseFlushesEverythingFirst) {
  EventLoop loop;
  auto [reader, writer] = File::pipe();
  reader.set_blocking(false);
  auto [transport, protocol] = connect<WritePipeTransport>(loop, std::move(writer), false);
  std::string big(1 << 20, 'p');  // 16 times a pipe's capacity
  transport->write(big);
  EXPECT_GT(transport->get_write_buffer_size(), 0u);
  transport->close();
  EXPECT_TRUE(transport->is_closing());
  std::string got;
  run_until(loop, [&] {
    got += read_all_available(reader.fileno());
    return protocol->lost();
  });
  got += read_all_available(reader.fileno());
  EXPECT_EQ(got.size(), big.size());
  EXPECT_EQ(protocol->trace(), "made pause resume lost");
  EXPECT_EQ(::read(reader.fileno(), nullptr, 0), 0);
}

TEST(WritePipeTest, WriteEofIsIdempotentAndCloses) {
  EventLoop loop;
  auto [reader, writer] = File::pipe();
  auto [transport, protocol] = connect<WritePipeTransport>(loop, std::move(writer), false);
  EXPECT_TRUE(transport->can_write_eof());
  transport->write("end");
  transport->write_eof();
  transport->write_eof();
  run_until(loop, [&] { return protocol->lost(); });
  char buffer[8];
  EXPECT_EQ(::read(reader.fileno(), buffer, sizeof buffer), 3);
  EXPECT_EQ(::read(reader.fileno(), buffer, sizeof buffer), 0) << "EOF after the data";
}

TEST(WritePipeTest, AnIdleWriterNoticesItsReaderGoing) {
  EventLoop loop;
  std::vector<ExceptionContext> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  auto [reader, writer] = File::pipe();
  auto [transport, protocol] = connect<WritePipeTransport>(loop, std::move(writer), false);
  run_once(loop);
  reader.close();
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_EQ(protocol->lost_error, nullptr) << "nothing was lost";
  EXPECT_TRUE(reported.empty());
}

TEST(WritePipeTest, BrokenPipeGoesToConnectionLostWithoutHandlerNoise) {
  EventLoop loop;
  std::vector<ExceptionContext> reported;
  loop.set_exception_handler(
      [&](EventLoop&, const ExceptionContext& context) { reported.push_back(context); });
  {
    // Buffered data when the reader goes: BrokenPipeError.
    auto [reader, writer] = File::pipe();
    auto [transport, protocol] = connect<WritePipeTransport>(loop, std::move(writer), false);
    transport->write(std::string(1 << 20, 'b'));
    reader.close();
    run_until(loop, [&] { return protocol->lost(); });
    EXPECT_TRUE(holds<BrokenPipeError>(protocol->lost_error)) << protocol->trace();
  }
  {
    // A write after the reader went, before the loop noticed: EPIPE from write().
    auto [reader, writer] = File::pipe();
    auto [transport, protocol] = connect<WritePipeTransport>(loop, std::move(writer), false);
    reader.close();
    transport->write("into the void");
    run_until(loop, [&] { return protocol->lost(); });
    EXPECT_TRUE(holds<BrokenPipeError>(protocol->lost_error)) << protocol->trace();
  }
  EXPECT_TRUE(reported.empty()) << "EPIPE is not the exception handler's business";
}

TEST(WritePipeTest, WritesAfterCloseAreDroppedWithAWarningFromTheFifth) {
  EventLoop loop;
  auto [reader, writer] = File::pipe();
  auto [transport, protocol] = connect<WritePipeTransport>(loop, std::move(writer), false);
  transport->close();
  testing::LogCapture log;
  for (int i = 0; i < 6; ++i) transport->write("late");
  int warnings = 0;
  for (const auto& record : log.records()) {
    warnings += record.message == "pipe closed by peer or os.write(pipe, data) raised exception.";
  }
  EXPECT_EQ(warnings, 1) << "only the 6th (conn_lost >= 5 before it) warns";
  run_until(loop, [&] { return protocol->lost(); });
  char buffer[8];
  EXPECT_EQ(::read(reader.fileno(), buffer, sizeof buffer), 0);
}

TEST(WritePipeTest, CharacterDevicesAndPtysWork) {
  EventLoop loop;
  auto [transport, protocol] =
      connect<WritePipeTransport>(loop, File::open("/dev/null", O_WRONLY), false);
  transport->write(std::string(1 << 16, 'n'));
  transport->close();
  run_until(loop, [&] { return protocol->lost(); });
  EXPECT_EQ(protocol->trace(), "made lost");

  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  File master_file(master);
  auto [pty_writer, pty_protocol] = connect<WritePipeTransport>(loop, File(slave), false);
  pty_writer->write("to the terminal\n");
  run_until(loop, [&] { return pty_writer->get_write_buffer_size() == 0; });
  char buffer[64] = {};
  ssize_t n = ::read(master_file.fileno(), buffer, sizeof buffer - 1);
  EXPECT_GT(n, 0);
  EXPECT_NE(std::string(buffer).find("to the terminal"), std::string::npos) << buffer;
  pty_writer->close();
  run_until(loop, [&] { return pty_protocol->lost(); });
}

TEST(PipePtyTest, ThroughAPtyPairMadeBySocat) {
  // socat joins two PTYs: what is written to one slave comes out of the other.
  EventLoop loop;
  std::string base = "/tmp/aio-pty-" + std::to_string(::getpid());
  std::string a = base + "-a", b = base + "-b";
  testing::PeerProcess socat({"socat", "pty,raw,echo=0,link=" + a, "pty,raw,echo=0,link=" + b},
                             /*quiet=*/true);
  struct stat info{};
  run_until(loop, [&] { return ::stat(a.c_str(), &info) == 0 && ::stat(b.c_str(), &info) == 0; });
  auto [writer, write_protocol] =
      connect<WritePipeTransport>(loop, File::open(a, O_WRONLY | O_NOCTTY), false);
  auto [reader, read_protocol] =
      connect<ReadPipeTransport>(loop, File::open(b, O_RDONLY | O_NOCTTY), true);
  std::string message(100000, 'q');
  writer->write(message);
  run_until(loop, [&] { return read_protocol->received.size() >= message.size(); });
  EXPECT_TRUE(read_protocol->received == message);
  writer->close();
  reader->close();
  run_until(loop, [&] { return write_protocol->lost() && read_protocol->lost(); });
  socat.stop();
}

}  // namespace
}  // namespace aio
