// The in-memory datagram pair: one datagram_received per sendto, in order; asyncio's address
// rule; error_received for what is not fatal; and each injected fault.
#include "testing/memory_datagram_transport.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/errors.h"
#include "testing/loop_test_util.h"

namespace aio::testing {
namespace {

void run_once(EventLoop& loop) { loop.run_until_complete(sleep(0)); }

struct Recorder : DatagramProtocol {
  void datagram_received(std::span<const std::byte> data, const SocketAddress& from) override {
    datagrams.emplace_back(reinterpret_cast<const char*>(data.data()), data.size());
    senders.push_back(from);
    times.push_back(get_running_loop().time());
  }
  void error_received(std::exception_ptr error) override {
    errors.push_back(describe_exception(error));
  }
  void connection_lost(std::exception_ptr error) override {
    lost = true;
    lost_error = error;
  }
  std::vector<std::string> datagrams, errors;
  std::vector<SocketAddress> senders;
  std::vector<double> times;
  bool lost = false;
  std::exception_ptr lost_error;
};

struct Pair {
  explicit Pair(EventLoop& loop) { std::tie(a, b) = MemoryDatagramTransport::pair(loop, pa, pb); }
  std::shared_ptr<Recorder> pa = std::make_shared<Recorder>(), pb = std::make_shared<Recorder>();
  MemoryDatagramTransport::Ref a, b;
};

TEST(MemoryDatagramTransportTest, EachSendIsOneDatagramInOrderFromThePeersAddress) {
  EventLoop loop;
  Pair p(loop);
  run_once(loop);
  p.a->sendto(std::string_view("one"));
  p.a->sendto(std::string_view("two"));
  p.a->sendto(std::string_view(""));  // asyncio 3.8: not sent
  SocketAddress b_address = std::any_cast<SocketAddress>(p.a->get_extra_info("peername"));
  p.a->sendto(std::string_view("three"), &b_address);
  run_until(loop, [&] { return p.pb->datagrams.size() == 3; });
  EXPECT_EQ(p.pb->datagrams, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_TRUE(p.pb->senders[0] == std::any_cast<SocketAddress>(p.a->get_extra_info("sockname")));
  SocketAddress elsewhere = SocketAddress::unix_path("memory:c");
  EXPECT_THROW(p.a->sendto(std::string_view("x"), &elsewhere), ValueError);
  p.a->close();
  p.b->close();
  run_until(loop, [&] { return p.pa->lost && p.pb->lost; });
}

TEST(MemoryDatagramTransportTest, DroppedDatagramsNeverArriveAndTheRestDo) {
  EventLoop loop;
  Pair p(loop);
  run_once(loop);
  p.b->drop_next(2);
  for (const char* d : {"1", "2", "3", "4"}) p.a->sendto(std::string_view(d));
  run_until(loop, [&] { return p.pb->datagrams.size() == 2; });
  EXPECT_EQ(p.pb->datagrams, (std::vector<std::string>{"3", "4"}));
  EXPECT_EQ(p.b->datagrams_received(), 2u);
  p.a->abort();
  p.b->abort();
  run_until(loop, [&] { return p.pa->lost && p.pb->lost; });
}

TEST(MemoryDatagramTransportTest, DelayIsOnTheLoopsClock) {
  EventLoop loop(virtual_time());
  Pair p(loop);
  run_once(loop);
  p.b->set_delay(0.25);
  p.a->sendto(std::string_view("late"));
  run_until(loop, [&] { return !p.pb->datagrams.empty(); });
  EXPECT_DOUBLE_EQ(p.pb->times.at(0), 0.25);
  p.a->close();
  p.b->close();
  run_until(loop, [&] { return p.pa->lost && p.pb->lost; });
}

TEST(MemoryDatagramTransportTest, ErrorsGoToErrorReceivedAndTheEndpointStaysOpen) {
  EventLoop loop;
  Pair p(loop);
  run_once(loop);
  p.b->inject_error(std::make_exception_ptr(ConnectionRefusedError(ECONNREFUSED, "")));
  run_until(loop, [&] { return p.pb->errors.size() == 1; });
  p.b->close();  // the peer goes away: sending to it is ECONNREFUSED, not fatal
  run_until(loop, [&] { return p.pb->lost; });
  p.a->sendto(std::string_view("nobody there"));
  run_until(loop, [&] { return p.pa->errors.size() == 1; });
  EXPECT_EQ(p.pa->errors[0].rfind("aio::ConnectionRefusedError", 0), 0u) << p.pa->errors[0];
  EXPECT_EQ(p.pb->errors.size(), 1u);
  EXPECT_FALSE(p.pa->lost) << "error_received is not fatal";
  p.a->fail(std::make_exception_ptr(ValueError("chosen")));
  run_until(loop, [&] { return p.pa->lost; });
  EXPECT_EQ(describe_exception(p.pa->lost_error), "aio::ValueError: chosen");
}

}  // namespace
}  // namespace aio::testing
