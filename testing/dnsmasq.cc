#include "testing/dnsmasq.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <stdexcept>
#include <thread>

namespace aio::testing {

Dnsmasq::Dnsmasq(const std::vector<std::string>& records, const std::string& local_domain)
    : port_(free_loopback_port()) {
  std::vector<std::string> argv = {"dnsmasq",
                                   // --no-daemon, not --keep-in-foreground: it also keeps dnsmasq
                                   // from switching user and groups, which a sandbox's user
                                   // namespace refuses.
                                   "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                                   "--no-hosts", "--no-poll", "--pid-file", "--bind-interfaces",
                                   "--listen-address=127.0.0.1", "--port=" + std::to_string(port_),
                                   "--local=/" + local_domain + "/", "--log-facility=-"};

  argv.insert(argv.end(), records.begin(), records.end());
  process_ = PeerProcess(argv, /*quiet=*/false);
  if (!wait_for_tcp_port(port_, 10.0, process_)) {
    throw std::runtime_error("dnsmasq did not come up (its log is in the test output)");
  }
}

void with_system_resolver_at(int server_port, int timeout_s, const std::function<void()>& lookup) {
  std::thread oracle([&] {
    res_init();
    _res.nscount = 1;
    _res.nsaddr_list[0].sin_family = AF_INET;
    _res.nsaddr_list[0].sin_port = htons(static_cast<uint16_t>(server_port));
    _res.nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    _res.retrans = timeout_s;
    _res.retry = 1;
    lookup();
  });
  oracle.join();
}

std::vector<dns::AddrInfo> Dnsmasq::system_getaddrinfo(const char* host, const char* port,
                                                       int family, int type, int protocol,
                                                       int flags, int* error) const {
  std::vector<dns::AddrInfo> entries;
  with_system_resolver_at(port_, 5, [&] {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = type;
    hints.ai_protocol = protocol;
    hints.ai_flags = flags;
    addrinfo* list = nullptr;
    *error = ::getaddrinfo(host, port, &hints, &list);
    if (*error == 0) {
      entries = dns::to_entries(list);
      freeaddrinfo(list);
    }
  });
  return entries;
}

std::pair<std::string, std::string> Dnsmasq::system_getnameinfo(const sockaddr* address,
                                                                socklen_t length, int flags,
                                                                int* error) const {
  char host[NI_MAXHOST] = {}, service[NI_MAXSERV] = {};
  with_system_resolver_at(port_, 5, [&] {
    *error = ::getnameinfo(address, length, host, sizeof host, service, sizeof service, flags);
  });
  return {host, service};
}

}  // namespace aio::testing
