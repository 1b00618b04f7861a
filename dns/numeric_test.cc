// The numeric fast path answers exactly as the C library's getaddrinfo does.
#include "dns/numeric.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace aio::dns {
namespace {

struct Case {
  const char* host;
  const char* port;
  int family;
  int type;
  int protocol;
  int flags;
};

// The system's answer (entries, or the EAI code) for the same question.
struct SystemAnswer {
  std::vector<AddrInfo> entries;
  int error = 0;
};

SystemAnswer system_getaddrinfo(const Case& c) {
  addrinfo hints{};
  hints.ai_family = c.family;
  hints.ai_socktype = c.type;
  hints.ai_protocol = c.protocol;
  hints.ai_flags = c.flags;
  addrinfo* list = nullptr;
  SystemAnswer answer;
  answer.error = getaddrinfo(c.host, c.port, &hints, &list);
  if (answer.error == 0) {
    answer.entries = to_entries(list);
    freeaddrinfo(list);
  }
  return answer;
}

std::string describe(const Case& c) {
  return std::string(c.host ? c.host : "(null)") + " " + (c.port ? c.port : "(null)") +
         " family=" + std::to_string(c.family) + " type=" + std::to_string(c.type) +
         " proto=" + std::to_string(c.protocol) + " flags=" + std::to_string(c.flags);
}

TEST(NumericGetaddrinfoTest, LiteralsAndNullHostsMatchTheSystemEntryByEntry) {
  const Case cases[] = {
      {"127.0.0.1", "80", 0, 0, 0, 0},
      {"127.0.0.1", "80", AF_INET, SOCK_STREAM, 0, 0},
      {"127.0.0.1", "80", AF_INET, SOCK_DGRAM, IPPROTO_UDP, 0},
      {"::1", "443", 0, 0, 0, 0},
      {"::1", "443", AF_INET6, SOCK_STREAM, IPPROTO_TCP, 0},
      {"fe80::1%1", "80", 0, 0, 0, 0},
      {"1.2.3", "80", 0, 0, 0, 0},  // inet_aton's short form, as glibc accepts it
      {"0x7f.1", "7", 0, 0, 0, 0},
      {"::ffff:10.0.0.1", "0", 0, 0, 0, 0},
      {nullptr, "80", 0, 0, 0, AI_PASSIVE},
      {nullptr, "80", 0, SOCK_STREAM, 0, 0},
      {nullptr, "8080", AF_INET6, SOCK_STREAM, 0, AI_PASSIVE},
      {"127.0.0.1", "http", 0, SOCK_STREAM, 0, 0},  // a service name from /etc/services
      {"127.0.0.1", nullptr, 0, 0, 0, 0},
      {"127.0.0.1", "", 0, 0, 0, 0},
      {"10.1.2.3", "53", 0, 0, 0, AI_CANONNAME},
      {"127.0.0.1", nullptr, AF_UNSPEC, SOCK_RAW, 0, 0},
  };
  for (const Case& c : cases) {
    SystemAnswer expected = system_getaddrinfo(c);
    ASSERT_EQ(expected.error, 0) << describe(c) << ": " << gai_strerror(expected.error);
    std::optional<std::vector<AddrInfo>> got =
        numeric_getaddrinfo(c.host, c.port, c.family, c.type, c.protocol, c.flags);
    ASSERT_TRUE(got.has_value()) << describe(c);
    ASSERT_EQ(got->size(), expected.entries.size()) << describe(c);
    for (std::size_t i = 0; i < got->size(); ++i) {
      EXPECT_TRUE((*got)[i] == expected.entries[i]) << describe(c) << " entry " << i;
    }
  }
}

TEST(NumericGetaddrinfoTest, ErrorsCarryTheSystemsCodeAndMessage) {
  const Case cases[] = {
      {"127.0.0.1", "80", AF_INET6, 0, 0, 0},        // EAI_ADDRFAMILY: a v4 literal asked as v6
      {"::1", "80", AF_INET, 0, 0, 0},               // and the reverse
      {"127.0.0.1", "no-such-service", 0, 0, 0, 0},  // EAI_SERVICE
      {"127.0.0.1", "80", 12345, 0, 0, 0},           // EAI_FAMILY
      {"localhost", "80", 0, 0, 0, AI_NUMERICHOST},  // the caller asked for numeric only
      {nullptr, nullptr, 0, 0, 0, 0},                // EAI_NONAME: neither host nor port
  };
  for (const Case& c : cases) {
    SystemAnswer expected = system_getaddrinfo(c);
    ASSERT_NE(expected.error, 0) << describe(c);
    try {
      numeric_getaddrinfo(c.host, c.port, c.family, c.type, c.protocol, c.flags);
      ADD_FAILURE() << describe(c) << ": no error";
    } catch (const ResolverError& e) {
      EXPECT_EQ(e.eai_code(), expected.error) << describe(c);
      EXPECT_EQ(e.code().category(), resolver_category());
      EXPECT_STREQ(e.what(), gai_strerror(expected.error)) << describe(c);
    }
  }
}

TEST(NumericGetaddrinfoTest, NamesAreLeftToTheResolver) {
  EXPECT_FALSE(numeric_getaddrinfo("localhost", "80").has_value());
  EXPECT_FALSE(numeric_getaddrinfo("example.invalid", nullptr).has_value());
  EXPECT_FALSE(numeric_getaddrinfo("1.2.3.4.5", "80").has_value());
}

TEST(NumericGetaddrinfoTest, AddrInfoPrintsHostAndPortAsPythonDoes) {
  auto v6 = numeric_getaddrinfo("fe80::1%1", "8080", AF_INET6, SOCK_STREAM);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ((*v6)[0].host(), "fe80::1%1");
  EXPECT_EQ((*v6)[0].port(), 8080);
  auto v4 = numeric_getaddrinfo("1.2.3", "http", AF_INET, SOCK_STREAM);
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ((*v4)[0].host(), "1.2.0.3");
  EXPECT_EQ((*v4)[0].port(), 80);
}

TEST(ResolverErrorTest, CategoryAndSystemErrno) {
  ResolverError again(EAI_AGAIN);
  EXPECT_STREQ(again.what(), "Temporary failure in name resolution");
  EXPECT_STREQ(resolver_category().name(), "getaddrinfo");
  EXPECT_EQ(again.code(), std::error_code(EAI_AGAIN, resolver_category()));
  ResolverError system(EAI_SYSTEM, ECONNREFUSED);
  EXPECT_EQ(system.system_errno(), ECONNREFUSED);
  EXPECT_STREQ(system.what(), "Connection refused");
  try {
    throw ResolverError(EAI_NONAME);
  } catch (const std::exception& e) {  // an ordinary error: catchable as std::exception
    EXPECT_STREQ(e.what(), "Name or service not known");
  }
}

std::vector<std::string> families(const std::vector<AddrInfo>& entries) {
  std::vector<std::string> out;
  for (const AddrInfo& e : entries) out.push_back(e.family == AF_INET ? "4" : "6");
  return out;
}

TEST(InterleaveTest, AlternatesFamiliesStartingWithTheFirst) {
  std::vector<AddrInfo> entries;
  for (const char* host : {"::1", "::2", "::3", "10.0.0.1", "10.0.0.2"}) {
    entries.push_back((*numeric_getaddrinfo(host, "80", 0, SOCK_STREAM))[0]);
  }
  using V = std::vector<std::string>;
  EXPECT_EQ(families(interleave_address_families(entries)), (V{"6", "4", "6", "4", "6"}));
  EXPECT_EQ(families(interleave_address_families(entries, 2)), (V{"6", "6", "4", "6", "4"}));
  std::vector<AddrInfo> interleaved = interleave_address_families(entries);
  EXPECT_EQ(interleaved[0].host(), "::1");
  EXPECT_EQ(interleaved[1].host(), "10.0.0.1");
  EXPECT_EQ(interleaved[2].host(), "::2");
  EXPECT_TRUE(interleave_address_families({}).empty());
}

}  // namespace
}  // namespace aio::dns
