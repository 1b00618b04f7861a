// The resolver against a real DNS server: dnsmasq on loopback with records defined here, and the
// C library pointed at the same server as the oracle, compared entry by entry and error by error.
#include "testing/dnsmasq.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dns/resolver.h"
#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "testing/loop_test_util.h"

namespace aio::dns {
namespace {

const std::vector<std::string> kRecords = {
    "--host-record=v4.test,127.0.0.2",
    "--host-record=v6.test,::2",
    "--host-record=v6ptr.test,fd00:a10::2",
    "--host-record=both.test,127.0.0.3,::3",
    "--host-record=many.test,127.0.0.4",
    "--host-record=many.test,127.0.0.5",
    "--host-record=many.test,::4",
    "--cname=alias.test,both.test",
    "--cname=chain.test,alias.test",
    "--txt-record=txtonly.test,no addresses here",
    // Reverse names under 127.0.0/24 without a record are NXDOMAIN; other reverse names are
    // REFUSED (no upstream), which the C library reports as EAI_AGAIN.
    "--local=/0.0.127.in-addr.arpa/",
};

struct Outcome {
  int error = 0;
  std::vector<AddrInfo> entries;
};

// dnsmasq rotates the addresses of a name with several of one family from answer to answer,
// so for such names only the order of families is compared (and the entries as a set).
std::string describe(const Outcome& outcome, bool rotating) {
  if (outcome.error != 0) return std::string("error: ") + gai_strerror(outcome.error);
  std::vector<std::string> entries;
  std::string header;  // for rotating names: the families and canonnames in order
  for (const AddrInfo& entry : outcome.entries) {
    std::string canonname = rotating ? "" : entry.canonname;
    entries.push_back("(" + std::to_string(entry.family) + " " + std::to_string(entry.type) + " " +
                      std::to_string(entry.protocol) + " '" + canonname + "' " + entry.host() +
                      " " + std::to_string(entry.port()) + ")");
    if (rotating) header += std::to_string(entry.family) + " '" + entry.canonname + "' ";
  }
  if (rotating) std::sort(entries.begin(), entries.end());
  return header + testing::join(entries);
}

Outcome aio_lookup(EventLoop& loop, Resolver& resolver, const char* host, const char* port,
                   int family, int type, int flags) {
  Outcome outcome;
  std::optional<std::string> service;
  if (port != nullptr) service = port;
  try {
    outcome.entries = loop.run_until_complete(
        aio::wait_for(resolver.getaddrinfo(host, service, family, type, 0, flags), 10));
  } catch (const ResolverError& e) {
    outcome.error = e.eai_code();
  }
  return outcome;
}

class DnsmasqTest : public ::testing::Test {
 protected:
  DnsmasqTest() : server_(kRecords) {
    resolver_ = &Resolver::of(loop_, ResolverOptions{.timeout_ms = 2000, .tries = 2});
    resolver_->set_servers(server_.csv());
  }

  void expect_same_as_system(const char* host, const char* port, int family, int type, int flags) {
    Outcome expected;
    expected.entries =
        server_.system_getaddrinfo(host, port, family, type, 0, flags, &expected.error);
    Outcome got = aio_lookup(loop_, *resolver_, host, port, family, type, flags);
    bool rotating = std::string(host) == "many.test";
    EXPECT_EQ(describe(got, rotating), describe(expected, rotating))
        << host << " port " << (port ? port : "null") << " family " << family << " type " << type
        << " flags " << flags;
  }

  EventLoop loop_;
  testing::Dnsmasq server_;
  Resolver* resolver_;
};

TEST_F(DnsmasqTest, EveryRecordKindMatchesTheSystem) {
  for (const char* host : {"v4.test", "v6.test", "both.test", "alias.test", "chain.test",
                           "many.test", "nx.test", "txtonly.test", "V4.TEST", "v4.test."}) {
    for (int family : {AF_UNSPEC, AF_INET, AF_INET6}) {
      for (int flags : {0, AI_CANONNAME}) {
        expect_same_as_system(host, "80", family, SOCK_STREAM, flags);
      }
    }
  }
}

TEST_F(DnsmasqTest, EverySocketTypeAndServiceMatchesTheSystem) {
  for (const char* host : {"both.test", "nx.test"}) {
    for (const char* port : {static_cast<const char*>(nullptr), "0", "80", "http", "domain",
                             "no-such-service", "70000"}) {
      for (int type : {0, int{SOCK_STREAM}, int{SOCK_DGRAM}, int{SOCK_RAW}}) {
        expect_same_as_system(host, port, AF_UNSPEC, type, 0);
      }
    }
  }
}

// The @loopback_only variant really runs where only loopback is configured (containers,
// offline CI), where AI_ADDRCONFIG counts no family at all.
TEST(DnsmasqNamespaceTest, LoopbackOnlyVariantSeesOnlyLoopback) {
  testing::expect_loopback_only_namespace();
}

TEST_F(DnsmasqTest, FlagsMatchTheSystem) {
  for (const char* host : {"v4.test", "v6.test", "both.test", "alias.test"}) {
    for (int flags : {AI_PASSIVE, AI_V4MAPPED, AI_V4MAPPED | AI_ALL, AI_ADDRCONFIG, AI_NUMERICSERV,
                      AI_CANONNAME | AI_V4MAPPED}) {
      for (int family : {AF_UNSPEC, AF_INET, AF_INET6}) {
        expect_same_as_system(host, "80", family, SOCK_STREAM, flags);
      }
    }
  }
  expect_same_as_system("v4.test", "http", AF_UNSPEC, SOCK_STREAM, AI_NUMERICSERV);
  expect_same_as_system("v4.test", "80", AF_UNSPEC, SOCK_STREAM, AI_NUMERICHOST);
}

TEST_F(DnsmasqTest, RefusedAndEmptyNamesMatchTheSystem) {
  // dnsmasq has no upstream: names outside its local domain are REFUSED -> EAI_AGAIN.
  expect_same_as_system("outside.example", "80", AF_UNSPEC, SOCK_STREAM, 0);
  expect_same_as_system("", "80", AF_UNSPEC, SOCK_STREAM, 0);
  expect_same_as_system("", nullptr, AF_UNSPEC, SOCK_STREAM, 0);
}

TEST_F(DnsmasqTest, ConcurrentLookupsAllComplete) {
  std::vector<Coro<std::vector<AddrInfo>>> lookups;
  for (int i = 0; i < 50; ++i) {
    lookups.push_back(
        resolver_->getaddrinfo(i % 2 ? "v4.test" : "alias.test", "80", AF_INET, SOCK_STREAM));
  }
  auto all = [&]() -> Coro<std::vector<std::vector<AddrInfo>>> {
    co_return co_await aio::gather(std::move(lookups));
  };
  std::vector<std::vector<AddrInfo>> results = loop_.run_until_complete(aio::wait_for(all(), 10));
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_EQ(results[i].size(), 1u);
    EXPECT_EQ(results[i][0].host(), i % 2 ? "127.0.0.2" : "127.0.0.3");
  }
}

TEST_F(DnsmasqTest, NxdomainIsNonameWithTheSystemMessage) {
  try {
    loop_.run_until_complete(aio::wait_for(resolver_->getaddrinfo("nx.test", "80"), 10));
    FAIL() << "nx.test must not resolve";
  } catch (const ResolverError& e) {
    EXPECT_EQ(e.eai_code(), EAI_NONAME);
    EXPECT_STREQ(e.what(), gai_strerror(EAI_NONAME));
    EXPECT_EQ(&e.code().category(), &resolver_category());
  }
}

TEST_F(DnsmasqTest, GetnameinfoMatchesTheSystem) {
  auto v4 = [](const char* literal) {
    sockaddr_storage storage{};
    auto* address = reinterpret_cast<sockaddr_in*>(&storage);
    address->sin_family = AF_INET;
    address->sin_port = htons(53);
    inet_pton(AF_INET, literal, &address->sin_addr);
    return storage;
  };
  auto v6 = [](const char* literal) {
    sockaddr_storage storage{};
    auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
    address->sin6_family = AF_INET6;
    address->sin6_port = htons(80);
    inet_pton(AF_INET6, literal, &address->sin6_addr);
    return storage;
  };
  // 127.0.0.2 and fd00:a10::2 have PTR records; 127.0.0.9 has none (NXDOMAIN); fd00:a10::9 is
  // REFUSED; ::2 and ::ffff:127.0.0.2 are looked up as IPv4; 127.0.0.1 is in /etc/hosts.
  for (sockaddr_storage address :
       {v4("127.0.0.2"), v4("127.0.0.9"), v6("fd00:a10::2"), v6("fd00:a10::9"), v6("::2"),
        v6("::ffff:127.0.0.2"), v4("127.0.0.1")}) {
    socklen_t length = address.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    for (int flags : {0, NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD, NI_DGRAM, NI_NOFQDN}) {
      int error = 0;
      auto expected =
          server_.system_getnameinfo(reinterpret_cast<sockaddr*>(&address), length, flags, &error);
      std::string want = error ? std::string("error: ") + gai_strerror(error)
                               : expected.first + " " + expected.second;
      std::string got;
      try {
        auto [host, service] = loop_.run_until_complete(aio::wait_for(
            resolver_->getnameinfo(reinterpret_cast<sockaddr*>(&address), length, flags), 10));
        got = host + " " + service;
      } catch (const ResolverError& e) {
        got = std::string("error: ") + e.what();
      }
      EXPECT_EQ(got, want) << "family " << address.ss_family << " flags " << flags;
    }
  }
}

}  // namespace
}  // namespace aio::dns
