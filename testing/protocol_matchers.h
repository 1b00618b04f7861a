// gMock matchers for RecordingProtocol (testing/protocol_recorder.h), so a test states the
// callback sequence it expects and gets the whole trace when it differs:
//
//   EXPECT_THAT(*protocol, TraceIs("made data eof lost"));
//   EXPECT_THAT(*protocol, LostWith("aio::ConnectionResetError"));
//   EXPECT_THAT(protocol->events, ::testing::Contains("pause"));   // plain gMock works too
#ifndef AIO_TESTING_PROTOCOL_MATCHERS_H_
#define AIO_TESTING_PROTOCOL_MATCHERS_H_

#include <string>

#include "gmock/gmock.h"
#include "loop/errors.h"
#include "testing/protocol_recorder.h"

namespace aio::testing {

// The callbacks so far, joined by spaces, equal `expected`.
MATCHER_P(TraceIs, expected, "has the callback trace \"" + std::string(expected) + "\"") {
  *result_listener << "whose trace is \"" << arg.trace() << "\"";
  return arg.trace() == std::string(expected);
}

// connection_lost came, with no error.
MATCHER(LostCleanly, "lost the connection without an error") {
  *result_listener << "whose trace is \"" << arg.trace() << "\"";
  return arg.lost() && !arg.lost_error;
}

// connection_lost came with an error whose description ("aio::TypeName: message") starts with
// `prefix`.
MATCHER_P(LostWith, prefix, "lost the connection with " + std::string(prefix)) {
  if (!arg.lost() || !arg.lost_error) {
    *result_listener << "whose trace is \"" << arg.trace() << "\"";
    return false;
  }
  std::string description = describe_exception(arg.lost_error);
  *result_listener << "which lost it with " << description;
  return description.rfind(std::string(prefix), 0) == 0;
}

// What the protocol received, as a string.
MATCHER_P(Received, expected, "received \"" + std::string(expected) + "\"") {
  *result_listener << "which received \"" << arg.received << "\"";
  return arg.received == std::string(expected);
}

}  // namespace aio::testing

#endif  // AIO_TESTING_PROTOCOL_MATCHERS_H_
