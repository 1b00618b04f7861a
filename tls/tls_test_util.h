// Helpers the TLS tests share: servers and clients over aio with a recorded protocol, and an
// exception handler that records (TLS failures must never reach it).
#ifndef AIO_TLS_TLS_TEST_UTIL_H_
#define AIO_TLS_TLS_TEST_UTIL_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "loop/event_loop.h"
#include "net/net.h"
#include "testing/loop_test_util.h"
#include "testing/protocol_recorder.h"
#include "tls/test_pki.h"
#include "tls/tls.h"

namespace aio::tls::testing {

using aio::testing::RecordingFactory;
using aio::testing::RecordingProtocol;
using aio::testing::run_until;

// Records what reaches the loop's exception handler.
struct HandlerCalls {
  explicit HandlerCalls(EventLoop& loop) {
    loop.set_exception_handler([this](EventLoop&, const ExceptionContext& context) {
      messages.push_back(context.message + (context.exception
                                                ? ": " + describe_exception(context.exception)
                                                : std::string()));
    });
  }
  std::vector<std::string> messages;
};

// A directory under /tmp (short enough for UNIX socket paths), removed with its contents.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/aio-tls-XXXXXX";
    if (mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::uint16_t port_of(const ServerRef& server) {
  return server->sockets().at(0).getsockname().port();
}

inline void close_server(EventLoop& loop, const ServerRef& server) {
  server->close();
  loop.run_until_complete(aio::wait_for(server->wait_closed(), 10));
}

// A factory whose protocols echo what they receive.
inline RecordingFactory<> echo_factory() {
  RecordingFactory<> factory;
  factory.setup = [](RecordingProtocol& protocol) {
    protocol.on_data = [](Transport& transport, std::span<const std::byte> data) {
      transport.write(data);
    };
  };
  return factory;
}

// An echo protocol factory that owns what it needs (for servers outliving the statement).
inline ProtocolFactory echo_protocols() {
  auto factory = std::make_shared<RecordingFactory<>>(echo_factory());
  return [factory] {
    std::shared_ptr<BaseProtocol> made = factory->factory()();
    factory->made.clear();  // the connection owns its protocol
    return made;
  };
}

// The exception `coro` ends with, as "Type: message" ("<no exception>" if none; a connection
// it made is closed).
template <class T>
std::string failure_of(EventLoop& loop, Coro<T> coro, double timeout = 20) {
  try {
    T result = loop.run_until_complete(aio::wait_for(std::move(coro), timeout));
    if constexpr (std::is_same_v<T, Connection<>>) result.first->close();
  } catch (...) {
    return describe_exception(std::current_exception());
  }
  return "<no exception>";
}

// `size` bytes of a pattern that depends on `seed` (so streams can be told apart).
inline std::string pattern(std::size_t size, unsigned seed) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    text[i] = static_cast<char>((i * 31 + seed * 7 + i / 4093) & 0xff);
  }
  return text;
}

}  // namespace aio::tls::testing

#endif  // AIO_TLS_TLS_TEST_UTIL_H_
