// SocketAddress: one socket address of any family aio speaks (IPv4, IPv6 with flow info and
// scope id, UNIX paths including Linux abstract names), with Python's tuple spelling for
// messages: ('127.0.0.1', 8080), ('::1', 80, 0, 0), '/tmp/sock'.
#ifndef AIO_NET_ADDRESS_H_
#define AIO_NET_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace aio {

class SocketAddress {
 public:
  SocketAddress() = default;  // family AF_UNSPEC, size 0
  // A copy of what the kernel gave; ValueError if `length` is too big.
  static SocketAddress from(const sockaddr* address, socklen_t length);
  // Numeric hosts only ("127.0.0.1", "::1", "fe80::1%lo"); ValueError otherwise (names go
  // through //dns first).
  static SocketAddress ipv4(std::string_view host, std::uint16_t port);
  static SocketAddress ipv6(std::string_view host, std::uint16_t port, std::uint32_t flowinfo = 0,
                            std::uint32_t scope_id = 0);
  // A path; a leading '\0' makes it a Linux abstract name. ValueError if it does not fit
  // ("AF_UNIX path too long", as Python says).
  static SocketAddress unix_path(std::string_view path);

  int family() const noexcept { return storage_.ss_family; }
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return size_; }
  // The kernel's buffer to fill (accept, getsockname): set_size() afterwards.
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }
  void set_size(socklen_t size) noexcept { size_ = size; }

  // IP: the numeric host ("::1", "fe80::1%2"); UNIX: the path ('\0'-prefixed if abstract).
  std::string host() const;
  std::uint16_t port() const noexcept;
  std::uint32_t flowinfo() const noexcept;
  std::uint32_t scope_id() const noexcept;
  // UNIX: the path ("" for an unbound socket).
  std::string path() const;
  bool is_abstract() const noexcept;

  // Python's repr of the address tuple or path.
  std::string to_string() const;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

}  // namespace aio

#endif  // AIO_NET_ADDRESS_H_
