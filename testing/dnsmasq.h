// A real DNS server for resolver tests: dnsmasq on 127.0.0.1 and a free high port, answering
// only the records a test defines (no upstream, no /etc/hosts), stopped when this goes away.
#ifndef AIO_TESTING_DNSMASQ_H_
#define AIO_TESTING_DNSMASQ_H_

#include <sys/socket.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "dns/addrinfo.h"
#include "testing/peer_process.h"

namespace aio::testing {

class Dnsmasq {
 public:
  // `records` are dnsmasq options such as "--host-record=a.test,127.0.0.2" or
  // "--cname=alias.test,a.test". Names under `local_domain` that no record defines are
  // NXDOMAIN; names elsewhere are REFUSED (no upstream). Throws if dnsmasq does not come up.
  explicit Dnsmasq(const std::vector<std::string>& records,
                   const std::string& local_domain = "test");

  int port() const { return port_; }
  // c-ares' server list form: "127.0.0.1:PORT".
  std::string csv() const { return "127.0.0.1:" + std::to_string(port_); }

  // The C library's answer with this server as its only nameserver (see system_lookup_via).
  std::vector<dns::AddrInfo> system_getaddrinfo(const char* host, const char* port, int family,
                                                int type, int protocol, int flags,
                                                int* error) const;
  // The C library's getnameinfo with this server as its only nameserver; `error` gets the EAI
  // code. Returns (host, service).
  std::pair<std::string, std::string> system_getnameinfo(const sockaddr* address, socklen_t length,
                                                         int flags, int* error) const;

 private:
  int port_;
  PeerProcess process_;
};

// Runs `lookup` on a fresh thread whose C library resolver asks only 127.0.0.1:`server_port`
// (glibc keeps resolver state per thread and honours what a program sets after res_init()),
// with `timeout_s` per try and one try: the oracle for names only a test's server knows.
void with_system_resolver_at(int server_port, int timeout_s, const std::function<void()>& lookup);

}  // namespace aio::testing

#endif  // AIO_TESTING_DNSMASQ_H_
