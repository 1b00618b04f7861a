// RecordingProtocol: a stream protocol that records every callback and asserts asyncio's
// contract as it goes (connection_made once and first; data only while connected; at most one
// eof_received; connection_lost once and last; pause_writing/resume_writing alternating,
// starting with pause). Every net test uses it, so every test checks the state machine.
#ifndef AIO_TESTING_PROTOCOL_RECORDER_H_
#define AIO_TESTING_PROTOCOL_RECORDER_H_

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/errors.h"
#include "net/protocols.h"
#include "net/transports.h"

namespace aio::testing {

class RecordingProtocol : public Protocol {
 public:
  enum class State { kNew, kConnected, kEof, kLost };

  void connection_made(Transport& transport) override {
    made(transport);
    stream_ = &transport;
    if (on_made) on_made(transport);
  }
  // Pipe transports (read or write end).
  void connection_made(ReadTransport& transport) override { made(transport); }
  void connection_made(WriteTransport& transport) override { made(transport); }
  void data_received(std::span<const std::byte> data) override {
    EXPECT_EQ(state_, State::kConnected) << "data after EOF or connection_lost";
    received.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (events.empty() || events.back() != "data") events.push_back("data");
    if (on_data && stream_ != nullptr) on_data(*stream_, data);
  }
  bool eof_received() override {
    EXPECT_EQ(state_, State::kConnected) << "eof_received twice or after connection_lost";
    state_ = State::kEof;
    events.push_back("eof");
    return on_eof && stream_ != nullptr ? on_eof(*stream_) : keep_open_on_eof;
  }
  void connection_lost(std::exception_ptr error) override {
    EXPECT_NE(state_, State::kLost) << "connection_lost twice";
    EXPECT_NE(state_, State::kNew) << "connection_lost before connection_made";
    state_ = State::kLost;
    lost_error = error;
    events.push_back(error ? "lost:" + describe_exception(error) : "lost");
    transport_.reset();
    stream_ = nullptr;
    if (on_lost) on_lost(error);
  }
  void pause_writing() override {
    EXPECT_FALSE(paused_) << "pause_writing twice in a row";
    paused_ = true;
    events.push_back("pause");
    if (on_pause) on_pause();
  }
  void resume_writing() override {
    EXPECT_TRUE(paused_) << "resume_writing without pause_writing";
    paused_ = false;
    events.push_back("resume");
    if (on_resume) on_resume();
  }

  State state() const { return state_; }
  bool lost() const { return state_ == State::kLost; }
  Transport* transport() const { return stream_; }
  // The events joined by spaces ("made data eof lost").
  std::string trace() const {
    std::string text;
    for (const std::string& event : events) text += (text.empty() ? "" : " ") + event;
    return text;
  }

  std::vector<std::string> events;
  std::string received;
  std::exception_ptr lost_error;
  bool keep_open_on_eof = false;
  std::function<void(Transport&)> on_made;
  std::function<void(Transport&, std::span<const std::byte>)> on_data;
  std::function<bool(Transport&)> on_eof;
  std::function<void(std::exception_ptr)> on_lost;
  std::function<void()> on_pause, on_resume;

 private:
  void made(BaseTransport& transport) {
    EXPECT_EQ(state_, State::kNew) << "connection_made must come first, once";
    state_ = State::kConnected;
    transport_ = internal::Ref<BaseTransport>::share(&transport);
    events.push_back("made");
  }

  State state_ = State::kNew;
  bool paused_ = false;
  internal::Ref<BaseTransport> transport_;  // kept until connection_lost, as a protocol would
  Transport* stream_ = nullptr;             // for stream transports
};

// A protocol factory that keeps every protocol it made (servers make one per connection).
template <class P = RecordingProtocol>
struct RecordingFactory {
  std::vector<std::shared_ptr<P>> made;
  std::function<void(P&)> setup;
  std::function<std::shared_ptr<BaseProtocol>()> factory() {
    return [this] {
      auto protocol = std::make_shared<P>();
      if (setup) setup(*protocol);
      made.push_back(protocol);
      return std::shared_ptr<BaseProtocol>(protocol);
    };
  }
};

}  // namespace aio::testing

#endif  // AIO_TESTING_PROTOCOL_RECORDER_H_
