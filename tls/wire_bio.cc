#include "tls/wire_bio.h"

#include <openssl/bio.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace aio::tls::internal {
namespace {

BIO_METHOD* wire_method(int (*read)(BIO*, char*, int), int (*write)(BIO*, const char*, int),
                        long (*ctrl)(BIO*, int, long, void*), int (*destroy)(BIO*)) {
  // One method table for the process, never freed (BIOs made from it may live until exit).
  static BIO_METHOD* method = [&] {
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "aio wire");
    if (m == nullptr || BIO_meth_set_read(m, read) != 1 || BIO_meth_set_write(m, write) != 1 ||
        BIO_meth_set_ctrl(m, ctrl) != 1 || BIO_meth_set_destroy(m, destroy) != 1) {
      throw std::bad_alloc();
    }
    return m;
  }();
  return method;
}

}  // namespace

Wire& Wire::create(bio_st*& bio) {
  bio = BIO_new(wire_method(&Wire::read, &Wire::write, &Wire::ctrl, &Wire::destroy));
  if (bio == nullptr) throw std::bad_alloc();
  auto* wire = new Wire;
  BIO_set_data(bio, wire);
  BIO_set_init(bio, 1);
  return *wire;
}

Wire::Call::Call(Wire& wire, std::span<const std::byte> input, std::string& output) : wire_(wire) {
  wire_.input_ = input;
  wire_.output_ = &output;
  if (!wire_.spill_.empty()) {
    output.append(wire_.spill_);
    wire_.spill_.clear();
  }
}

Wire::Call::~Call() {
  if (!wire_.input_.empty()) {
    // Keep the rest: the caller's bytes are gone after this call. Drop what was read first.
    wire_.unread_.erase(0, wire_.unread_at_);
    wire_.unread_at_ = 0;
    wire_.unread_.append(reinterpret_cast<const char*>(wire_.input_.data()), wire_.input_.size());
    wire_.input_ = {};
  }
  wire_.output_ = nullptr;
}

void Wire::take_all(std::string& out) {
  out.append(unread_, unread_at_);
  unread_.clear();
  unread_at_ = 0;
  out.append(reinterpret_cast<const char*>(input_.data()), input_.size());
  input_ = {};
}

int Wire::read(BIO* bio, char* out, int len) {
  auto& wire = *static_cast<Wire*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  std::size_t want = len > 0 ? static_cast<std::size_t>(len) : 0;
  std::size_t n = 0;
  if (wire.unread_at_ < wire.unread_.size()) {
    n = std::min(want, wire.unread_.size() - wire.unread_at_);
    std::memcpy(out, wire.unread_.data() + wire.unread_at_, n);
    wire.unread_at_ += n;
    if (wire.unread_at_ == wire.unread_.size()) {
      wire.unread_.clear();
      wire.unread_at_ = 0;
    }
  }
  if (n < want && !wire.input_.empty()) {
    std::size_t more = std::min(want - n, wire.input_.size());
    std::memcpy(out + n, wire.input_.data(), more);
    wire.input_ = wire.input_.subspan(more);
    n += more;
  }
  if (n > 0) return static_cast<int>(n);
  if (wire.eof_) return 0;
  BIO_set_retry_read(bio);  // nothing yet: the SSL object wants more (SSL_ERROR_WANT_READ)
  return -1;
}

int Wire::write(BIO* bio, const char* in, int len) {
  auto& wire = *static_cast<Wire*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  (wire.output_ != nullptr ? *wire.output_ : wire.spill_).append(in, static_cast<std::size_t>(len));
  return len;
}

long Wire::ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
  auto& wire = *static_cast<Wire*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // records are in the output as soon as they are written
    case BIO_CTRL_PENDING:
      return static_cast<long>(wire.pending());
    case BIO_CTRL_WPENDING:
      return static_cast<long>(wire.spill_.size());
    case BIO_CTRL_EOF:
      return wire.eof_ && wire.pending() == 0 ? 1 : 0;
    default:
      return 0;
  }
}

int Wire::destroy(BIO* bio) {
  delete static_cast<Wire*>(BIO_get_data(bio));
  BIO_set_data(bio, nullptr);
  BIO_set_init(bio, 0);
  return 1;
}

}  // namespace aio::tls::internal
