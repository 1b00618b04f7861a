// LeakCheck reports what a test leaked: a pending task at loop close, an exception never
// retrieved, a transport never closed, an fd left open; and nothing for a clean test.
#include "testing/leak_check.h"

#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/loop.h"
#include "net/socket_transport.h"
#include "testing/protocol_recorder.h"

namespace aio::testing {
namespace {

TEST(LeakCheckTest, ACleanTestReportsNothing) {
  LeakCheck leaks;
  {
    EventLoop loop;
    loop.run_until_complete(sleep(0));
  }
  EXPECT_TRUE(leaks.leaks().empty());
}

TEST(LeakCheckTest, APendingTaskAtLoopCloseIsALeak) {
  EXPECT_NONFATAL_FAILURE(
      {
        LeakCheck leaks;
        EventLoop loop;
        Future<void> never = loop.create_future();
        auto waiter = [](Future<void> f) -> Coro<void> { co_await f; };
        Task<void> task = loop.create_task(waiter(never));
        loop.run_until_complete(sleep(0));
        loop.close();
      },
      "Task was destroyed but it is pending!");
}

TEST(LeakCheckTest, AnExceptionNeverRetrievedIsALeak) {
  EXPECT_NONFATAL_FAILURE(
      {
        LeakCheck leaks;
        EventLoop loop;
        {
          Future<int> future = loop.create_future<int>();
          future.set_exception(std::make_exception_ptr(ValueError("lost")));
        }
        loop.run_until_complete(sleep(0));
      },
      "exception was never retrieved");
}

TEST(LeakCheckTest, ATransportNeverClosedIsALeak) {
  int fds[2];
  EXPECT_NONFATAL_FAILURE(
      {
        LeakCheck leaks;
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        EventLoop loop;
        auto transport =
            SocketTransport::create(loop, Socket(fds[0]), std::make_shared<RecordingProtocol>());
        loop.run_until_complete(sleep(0));
        loop.close();  // closes fds[0] with a warning
        ::close(fds[1]);
      },
      "unclosed transport");
}

TEST(LeakCheckTest, AnFdLeftOpenIsALeak) {
  int fds[2] = {-1, -1};
  EXPECT_NONFATAL_FAILURE(
      {
        LeakCheck leaks;
        ASSERT_EQ(::pipe(fds), 0);
      },
      "2 file descriptor(s) left open");
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace aio::testing
