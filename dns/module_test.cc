// `import aio.dns;` alone is enough to use //dns:resolver: getaddrinfo of "localhost" (through
// c-ares, from /etc/hosts) and of a numeric host (the fast path, no lookup), getnameinfo, the
// numeric entry points and ResolverError, on a loop that aio.loop (re-exported) gives.
// Macros (AF_INET, SOCK_STREAM, AI_*, EAI_*) are not part of any module: the system headers
// give them, as they would to any user.
#include <netdb.h>
#include <sys/socket.h>

#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

import aio.dns;

namespace {

std::set<std::string> hosts_of(const std::vector<aio::dns::AddrInfo>& entries) {
  std::set<std::string> hosts;
  for (const aio::dns::AddrInfo& entry : entries) hosts.insert(entry.host());
  return hosts;
}

TEST(DnsModuleTest, LocalhostResolvesToALoopbackAddress) {
  std::vector<aio::dns::AddrInfo> entries =
      aio::run([]() -> aio::Coro<std::vector<aio::dns::AddrInfo>> {
        co_return co_await aio::wait_for(aio::dns::getaddrinfo(aio::get_running_loop(), "localhost",
                                                               "80", AF_UNSPEC, SOCK_STREAM),
                                         10);
      }());
  ASSERT_FALSE(entries.empty());
  for (const aio::dns::AddrInfo& entry : entries) {
    EXPECT_TRUE(entry.host() == "127.0.0.1" || entry.host() == "::1") << entry.host();
    EXPECT_EQ(entry.port(), 80);
    EXPECT_EQ(entry.type, SOCK_STREAM);
  }
}

TEST(DnsModuleTest, NumericHostAndReverseLookup) {
  auto [entries, name] = aio::run(
      []() -> aio::Coro<
               std::pair<std::vector<aio::dns::AddrInfo>, std::pair<std::string, std::string>>> {
        aio::EventLoop& loop = aio::get_running_loop();
        auto entries =
            co_await aio::dns::getaddrinfo(loop, "127.0.0.1", "8080", AF_INET, SOCK_DGRAM);
        auto name = co_await aio::dns::getnameinfo(loop, "127.0.0.1", 8080,
                                                   NI_NUMERICHOST | NI_NUMERICSERV);
        co_return std::pair{std::move(entries), std::move(name)};
      }());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].family, AF_INET);
  EXPECT_EQ(entries[0].host(), "127.0.0.1");
  EXPECT_EQ(entries[0].port(), 8080);
  EXPECT_EQ(name, (std::pair<std::string, std::string>{"127.0.0.1", "8080"}));
}

TEST(DnsModuleTest, NumericFastPathAnswersWithoutALoop) {
  std::optional<std::vector<aio::dns::AddrInfo>> entries =
      aio::dns::numeric_getaddrinfo("::1", "443", AF_INET6, SOCK_STREAM);
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(hosts_of(*entries), (std::set<std::string>{"::1"}));
  // A name is not numeric: the fast path declines and leaves it to c-ares.
  EXPECT_EQ(aio::dns::numeric_getaddrinfo("localhost", "443"), std::nullopt);
}

TEST(DnsModuleTest, ANameWhereOnlyNumericHostsAreAllowedIsAResolverError) {
  int code = aio::run([]() -> aio::Coro<int> {
    try {
      co_await aio::dns::getaddrinfo(aio::get_running_loop(), "localhost", "80", 0, 0, 0,
                                     AI_NUMERICHOST);
    } catch (const aio::OSError& error) {  // a ResolverError is an OSError, as gaierror
      co_return dynamic_cast<const aio::dns::ResolverError&>(error).eai_code();
    }
    co_return 0;
  }());
  EXPECT_EQ(code, EAI_NONAME);
}

}  // namespace
