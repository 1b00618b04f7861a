// The resolver on the loop. Every server these tests talk to is on loopback: a UDP socket that
// reads nothing and answers nothing stands in for an unresponsive DNS server, so a name that
// /etc/hosts does not know times out without leaving the machine.
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "testing/dnsmasq.h"
#include "testing/loop_test_util.h"

namespace aio::dns {
namespace {

// A bound UDP socket on 127.0.0.1 that never answers.
class SilentServer {
 public:
  SilentServer() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { close(fd_); }
  std::string csv() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// A loop whose resolver only ever asks the silent server, quickly.
Resolver& quiet_resolver(EventLoop& loop, const SilentServer& server) {
  Resolver& resolver = Resolver::of(loop, ResolverOptions{.timeout_ms = 100, .tries = 1});
  resolver.set_servers(server.csv());
  return resolver;
}

std::vector<AddrInfo> system_entries(const char* host, const char* port, int family, int type,
                                     int flags, int* error) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = type;
  hints.ai_flags = flags;
  addrinfo* list = nullptr;
  *error = ::getaddrinfo(host, port, &hints, &list);
  std::vector<AddrInfo> entries;
  if (*error == 0) {
    entries = to_entries(list);
    freeaddrinfo(list);
  }
  return entries;
}

TEST(ResolverTest, HostsFileNamesMatchTheSystemEntryByEntry) {
  EventLoop loop;
  SilentServer server;
  Resolver& resolver = quiet_resolver(loop, server);
  struct Case {
    const char* port;
    int family, type, flags;
  } cases[] = {
      {"80", 0, 0, 0},
      {"80", AF_INET, SOCK_STREAM, 0},
      {"http", 0, SOCK_STREAM, 0},
      {"53", 0, SOCK_DGRAM, AI_CANONNAME},
      {nullptr, 0, 0, 0},
  };
  for (const Case& c : cases) {
    int error = 0;
    std::vector<AddrInfo> expected =
        system_entries("localhost", c.port, c.family, c.type, c.flags, &error);
    ASSERT_EQ(error, 0) << gai_strerror(error);
    std::optional<std::string> port;
    if (c.port) port = c.port;
    std::vector<AddrInfo> got = loop.run_until_complete(
        aio::wait_for(resolver.getaddrinfo("localhost", port, c.family, c.type, 0, c.flags), 5));
    ASSERT_EQ(got.size(), expected.size()) << (c.port ? c.port : "null");
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(got[i] == expected[i])
          << "entry " << i << ": " << got[i].host() << " " << got[i].canonname << " vs "
          << expected[i].host() << " " << expected[i].canonname;
    }
  }
}

TEST(ResolverTest, LiteralsNeverReachTheResolver) {
  EventLoop loop;
  SilentServer server;
  Resolver& resolver = quiet_resolver(loop, server);
  std::vector<AddrInfo> got =
      loop.run_until_complete(resolver.getaddrinfo("::1", "443", AF_INET6, SOCK_STREAM));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].host(), "::1");
  try {
    loop.run_until_complete(resolver.getaddrinfo("127.0.0.1", "80", AF_INET6));
    FAIL() << "a v4 literal asked as v6 must fail as the system does";
  } catch (const ResolverError& e) {
    EXPECT_EQ(e.eai_code(), EAI_ADDRFAMILY);
  }
}

TEST(ResolverTest, UnansweredLookupTimesOutWithoutBlockingTheLoop) {
  EventLoop loop;
  SilentServer server;
  Resolver& resolver = quiet_resolver(loop, server);
  std::vector<std::string> events;
  for (int i = 1; i <= 3; ++i) {
    loop.call_later(0.02 * i, [&events, i] { events.push_back("tick" + std::to_string(i)); });
  }
  auto lookup = [&]() -> Coro<void> {
    try {
      co_await resolver.getaddrinfo("no-such-name.aio-test", "80");
      events.push_back("resolved?!");
    } catch (const ResolverError& e) {
      events.push_back(e.eai_code() == EAI_AGAIN ? "EAI_AGAIN" : e.what());
    }
  };
  loop.run_until_complete(aio::wait_for(lookup(), 10));
  // The 20/40/60 ms timers all fire while the lookup waits for its 100 ms timeout: the lookup
  // never holds the loop up. (Order only: no wall-clock bound.)
  EXPECT_EQ(testing::join(events), "tick1 tick2 tick3 EAI_AGAIN");
}

TEST(ResolverTest, UnansweredLookupsFailLikeTheSystem) {
  EventLoop loop;
  SilentServer server;
  Resolver& resolver = quiet_resolver(loop, server);
  int system_error = 0;
  testing::with_system_resolver_at(server.port(), 1, [&] {
    addrinfo* list = nullptr;
    system_error = ::getaddrinfo("no-such-name.aio-test", "80", nullptr, &list);
    if (system_error == 0) freeaddrinfo(list);
  });
  try {
    loop.run_until_complete(aio::wait_for(resolver.getaddrinfo("no-such-name.aio-test", "80"), 10));
    ADD_FAILURE() << "an unanswered lookup must fail";
  } catch (const ResolverError& e) {
    EXPECT_EQ(e.eai_code(), system_error) << e.what() << " vs " << gai_strerror(system_error);
  }
  // A reverse lookup nobody answers: "try again", not the numeric form.
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(80);
  inet_pton(AF_INET, "192.0.2.1", &address.sin_addr);
  char host[NI_MAXHOST], service[NI_MAXSERV];
  testing::with_system_resolver_at(server.port(), 1, [&] {
    system_error = ::getnameinfo(reinterpret_cast<sockaddr*>(&address), sizeof address, host,
                                 sizeof host, service, sizeof service, 0);
  });
  try {
    loop.run_until_complete(aio::wait_for(
        resolver.getnameinfo(reinterpret_cast<sockaddr*>(&address), sizeof address), 10));
    ADD_FAILURE() << "an unanswered reverse lookup must fail";
  } catch (const ResolverError& e) {
    EXPECT_EQ(e.eai_code(), system_error) << e.what() << " vs " << gai_strerror(system_error);
  }
}

TEST(ResolverTest, CancellingAPendingLookupIsClean) {
  EventLoop loop;
  SilentServer server;
  Resolver& resolver = quiet_resolver(loop, server);
  Task<std::vector<AddrInfo>> lookup =
      loop.create_task(resolver.getaddrinfo("no-such-name.aio-test", "80"));
  loop.call_later(0.01, [&] { lookup.cancel(); });
  EXPECT_THROW(loop.run_until_complete(lookup), CancelledError);
  // The query ends inside c-ares later; nothing may reach the cancelled task.
  loop.run_until_complete(sleep(0.3));
  EXPECT_TRUE(lookup.cancelled());
}

TEST(ResolverTest, ClosingTheLoopWithLookupsPendingIsClean) {
  SilentServer server;
  auto loop = std::make_unique<EventLoop>();
  Resolver& resolver = quiet_resolver(*loop, server);
  Task<std::vector<AddrInfo>> lookup =
      loop->create_task(resolver.getaddrinfo("no-such-name.aio-test", "80"));
  loop->call_later(0.01, [&] { loop->stop(); });
  loop->run_forever();
  EXPECT_FALSE(lookup.done());
  testing::LogCapture log;  // "Task was destroyed but it is pending!" is expected, nothing else
  loop->close();
  lookup = Task<std::vector<AddrInfo>>();
  loop.reset();
  for (const auto& record : log.records()) {
    EXPECT_NE(record.message.find("Task was destroyed but it is pending!"), std::string::npos)
        << record.message;
  }
}

TEST(ResolverTest, GetnameinfoMatchesTheSystem) {
  EventLoop loop;
  SilentServer server;
  Resolver& resolver = quiet_resolver(loop, server);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(80);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int flags : {NI_NUMERICHOST | NI_NUMERICSERV, 0}) {
    char host[NI_MAXHOST], service[NI_MAXSERV];
    ASSERT_EQ(::getnameinfo(reinterpret_cast<sockaddr*>(&address), sizeof address, host,
                            sizeof host, service, sizeof service, flags),
              0);
    auto [got_host, got_service] = loop.run_until_complete(aio::wait_for(
        resolver.getnameinfo(reinterpret_cast<sockaddr*>(&address), sizeof address, flags), 5));
    EXPECT_EQ(got_host, host) << "flags " << flags;
    EXPECT_EQ(got_service, service) << "flags " << flags;
  }
}

TEST(ResolverTest, BadServerListIsAValueError) {
  EventLoop loop;
  EXPECT_THROW(Resolver::of(loop).set_servers("not an address"), ValueError);
}

TEST(ResolverTest, LoopbackOnlyVariantSeesOnlyLoopback) {
  testing::expect_loopback_only_namespace();
}

TEST(ResolverTest, ResolverErrorIsAnOSErrorAsGaierrorIs) {
  EventLoop loop;
  try {
    loop.run_until_complete(getaddrinfo(loop, "localhost", "no-such-service-name"));
    FAIL() << "an unknown service is an error";
  } catch (const OSError& e) {  // caught as the base class, as `except OSError` in Python
    const auto* gai = dynamic_cast<const ResolverError*>(&e);
    ASSERT_NE(gai, nullptr);
    EXPECT_EQ(e.err(), EAI_SERVICE) << "errno is the EAI code, as gaierror.errno";
    EXPECT_EQ(gai->eai_code(), EAI_SERVICE);
    EXPECT_EQ(std::string(e.what()), gai_strerror(EAI_SERVICE));
  }
}

// socket.getnameinfo((host, port), flags): the host is numeric; Python's errors otherwise.
TEST(ResolverTest, GetnameinfoTakesAHostStringAndPort) {
  EventLoop loop;
  auto numeric = [&](std::string host, std::uint16_t port) {
    return loop.run_until_complete(
        getnameinfo(loop, std::move(host), port, NI_NUMERICHOST | NI_NUMERICSERV));
  };
  EXPECT_EQ(numeric("127.0.0.1", 80), std::make_pair(std::string("127.0.0.1"), std::string("80")));
  EXPECT_EQ(numeric("::1", 443), std::make_pair(std::string("::1"), std::string("443")));
  // As the sockaddr form (and the C library) for the same address.
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(80);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(loop.run_until_complete(getnameinfo(loop, "127.0.0.1", 80)),
            loop.run_until_complete(
                getnameinfo(loop, reinterpret_cast<const sockaddr*>(&in), sizeof in)));
  // The 4-tuple form: flowinfo and scope id land in the IPv6 address.
  EXPECT_EQ(loop.run_until_complete(
                getnameinfo(loop, "fe80::1", 80, 0, 1, NI_NUMERICHOST | NI_NUMERICSERV)),
            std::make_pair(std::string("fe80::1%lo"), std::string("80")));
  // A name is not a numeric host: EAI_NONAME, before any lookup.
  try {
    loop.run_until_complete(getnameinfo(loop, "localhost", 80));
    FAIL() << "a name is refused";
  } catch (const ResolverError& e) {
    EXPECT_EQ(e.eai_code(), EAI_NONAME);
  }
  EXPECT_EQ(testing::error_message(
                [&] { loop.run_until_complete(getnameinfo(loop, "::1", 80, 0x100000, 0)); }),
            "getnameinfo(): flowinfo must be 0-1048575.");
  EXPECT_THROW(loop.run_until_complete(getnameinfo(loop, "::1", 80, -1, 0)), OverflowError);
  EXPECT_EQ(testing::error_message(
                [&] { loop.run_until_complete(getnameinfo(loop, "127.0.0.1", 80, 0, 0)); }),
            "IPv4 sockaddr must be 2 tuple");
}

constexpr const char* kGetnameinfoOracle = R"py(
import socket
print(socket.getnameinfo(("fe80::1", 80, 0, 1), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0])
)py";

TEST(ResolverTest, ScopedGetnameinfoMatchesPython) {
  EventLoop loop;
  auto [host, port] = loop.run_until_complete(
      getnameinfo(loop, "fe80::1", 80, 0, 1, NI_NUMERICHOST | NI_NUMERICSERV));
  testing::expect_same_as_cpython(host, kGetnameinfoOracle);
}

}  // namespace
}  // namespace aio::dns
