// Wakes a loop blocked in poll from another thread: an eventfd the loop watches for reading
// (Linux; a self-pipe would serve elsewhere). Writes coalesce: many notifies, one wakeup.
#ifndef AIO_LOOP_WAKEUP_H_
#define AIO_LOOP_WAKEUP_H_

namespace aio::internal {

class Wakeup {
 public:
  Wakeup();  // throws OSError
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  int fd() const noexcept { return fd_; }
  void notify() noexcept;  // async-signal-safe and thread-safe
  void drain() noexcept;   // loop thread: consume pending notifications

 private:
  int fd_;
};

}  // namespace aio::internal

#endif  // AIO_LOOP_WAKEUP_H_
