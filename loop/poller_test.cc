// Both pollers against the same expectations (the loop tests run on both as well).
#include "loop/poller.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <memory>

#include "gtest/gtest.h"
#include "loop/errors.h"

namespace aio::internal {
namespace {

class PollerTest : public ::testing::TestWithParam<PollerKind> {
 protected:
  void SetUp() override {
    poller_ = make_poller(GetParam());
    ASSERT_EQ(pipe2(fds_, O_NONBLOCK | O_CLOEXEC), 0);
  }
  void TearDown() override {
    close(fds_[0]);
    close(fds_[1]);
  }
  std::map<int, std::uint32_t> poll(int timeout_ms) {
    std::map<int, std::uint32_t> ready;
    EXPECT_EQ(poller_->poll(timeout_ms, [&](int fd, std::uint32_t ev) { ready[fd] |= ev; }), 0);
    return ready;
  }
  std::unique_ptr<Poller> poller_;
  int fds_[2];
};

TEST_P(PollerTest, ReportsReadinessOfTheInterestOnly) {
  ASSERT_EQ(poller_->update(fds_[0], 0, kReadable), 0);
  ASSERT_EQ(poller_->update(fds_[1], 0, kWritable), 0);
  auto ready = poll(0);
  EXPECT_EQ(ready.count(fds_[0]), 0u) << "nothing to read yet";
  EXPECT_EQ(ready[fds_[1]], kWritable);
  ASSERT_EQ(write(fds_[1], "x", 1), 1);
  ready = poll(1000);
  EXPECT_EQ(ready[fds_[0]], kReadable);
}

TEST_P(PollerTest, RemovalAndModificationTakeEffect) {
  ASSERT_EQ(poller_->update(fds_[1], 0, kWritable), 0);
  ASSERT_EQ(poller_->update(fds_[1], kWritable, 0), 0);
  EXPECT_TRUE(poll(0).empty());
  ASSERT_EQ(write(fds_[1], "x", 1), 1);
  ASSERT_EQ(poller_->update(fds_[0], 0, kReadable), 0);
  ASSERT_EQ(poller_->update(fds_[0], kReadable, kReadable | kWritable), 0);
  EXPECT_EQ(poll(0)[fds_[0]], kReadable);  // a read end never becomes writable
}

TEST_P(PollerTest, TimeoutWithNothingReadyReturnsEmpty) {
  ASSERT_EQ(poller_->update(fds_[0], 0, kReadable), 0);
  EXPECT_TRUE(poll(10).empty());
}

TEST_P(PollerTest, HangUpCountsAsReadable) {
  ASSERT_EQ(poller_->update(fds_[0], 0, kReadable), 0);
  close(fds_[1]);
  fds_[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);  // keep TearDown's close valid
  EXPECT_EQ(poll(1000)[fds_[0]], kReadable);
}

TEST_P(PollerTest, ClosedFdIsRefusedWithEbadf) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(poller_->update(fds[0], 0, kReadable), EBADF);
  EXPECT_EQ(poller_->update(fds[0], 0, 0), 0) << "removing an unknown fd is not an error";
}

INSTANTIATE_TEST_SUITE_P(Pollers, PollerTest,
                         ::testing::Values(PollerKind::kEpoll, PollerKind::kPoll),
                         [](const auto& info) {
                           return info.param == PollerKind::kEpoll ? "epoll" : "poll";
                         });

TEST(PollerFactoryTest, EnvironmentChoosesTheDefault) {
  setenv("AIO_POLLER", "poll", 1);
  EXPECT_EQ(make_poller(PollerKind::kDefault)->name(), "poll");
  setenv("AIO_POLLER", "epoll", 1);
  EXPECT_EQ(make_poller(PollerKind::kDefault)->name(), "epoll");
  setenv("AIO_POLLER", "kqueue", 1);
  EXPECT_THROW(make_poller(PollerKind::kDefault), ValueError);
  unsetenv("AIO_POLLER");
  // The compiled-in default: epoll, or poll when built with --define aio_poller=poll.
#ifdef AIO_EXPECT_DEFAULT_POLL
  EXPECT_EQ(make_poller(PollerKind::kDefault)->name(), "poll");
#else
  EXPECT_EQ(make_poller(PollerKind::kDefault)->name(), "epoll");
#endif
  EXPECT_EQ(make_poller(PollerKind::kPoll)->name(), "poll");
}

}  // namespace
}  // namespace aio::internal
