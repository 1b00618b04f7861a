// The SSL object's network side: one BIO of aio's own in place of BoringSSL's two memory BIOs.
// Ciphertext is read straight from the bytes the transport received (copied aside only when the
// SSL object leaves some of them unread), and records are appended straight to the caller's
// output string. BoringSSL's memory BIO copies every byte in and out once more, zero-fills each
// growth of its buffer and moves its remainder down on every read: on a 16 KiB echo that was
// about a third of the server's instructions per message (callgrind, 2026-12-03). It does no
// I/O, as the memory BIOs did not: the engine stays pure.
#ifndef AIO_TLS_WIRE_BIO_H_
#define AIO_TLS_WIRE_BIO_H_

#include <cstddef>
#include <span>
#include <string>

struct bio_st;

namespace aio::tls::internal {

// What the BIO holds. Owned by the BIO (freed with it, when the SSL object is freed), because
// the SSL object may outlive the engine (an ssl_object the application kept).
class Wire {
 public:
  // A new BIO and its Wire; the BIO's one reference goes to SSL_set_bio.
  static Wire& create(bio_st*& bio);

  // During one engine call: reads take what is left unread from earlier calls, then `input`;
  // records go to `output`. At the end of the scope the rest of `input` is kept for later.
  class Call {
   public:
    Call(Wire& wire, std::span<const std::byte> input, std::string& output);
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    Wire& wire_;
  };

  // Bytes received and not read by the SSL object yet.
  std::size_t pending() const { return unread_.size() - unread_at_ + input_.size(); }
  // Moves every pending byte to the end of `out` (plaintext after an unwrap).
  void take_all(std::string& out);
  // The transport reached EOF: an empty read is the end now, not "more to come".
  void set_eof() { eof_ = true; }

 private:
  static int read(bio_st* bio, char* out, int len);
  static int write(bio_st* bio, const char* in, int len);
  static long ctrl(bio_st* bio, int cmd, long num, void* ptr);
  static int destroy(bio_st* bio);

  std::span<const std::byte> input_;  // this call's bytes not read yet
  std::string unread_;                // earlier calls' bytes; unread_[unread_at_:] not read yet
  std::size_t unread_at_ = 0;
  std::string* output_ = nullptr;  // the current call's output
  std::string spill_;              // records written outside a call (none expected): next call's
  bool eof_ = false;
};

}  // namespace aio::tls::internal

#endif  // AIO_TLS_WIRE_BIO_H_
