// LeakCheck: a scope that fails the current test with what leaked inside it, as a user's test
// would want to know: file descriptors left open, tasks still pending when their loop closed
// ("Task was destroyed but it is pending!"), futures whose exception nobody retrieved, and
// transports or servers that were never closed (closed by the loop, with a warning).
//
//   TEST(MyProtocol, Works) {
//     aio::testing::LeakCheck leaks;   // first, so it outlives the loop
//     aio::EventLoop loop;
//     ...
//   }                                  // fails here, listing each leak
//
// It watches the log (loop/logging.h), forwarding every record to the sink that was there
// before, so it composes with LogCapture and the default stderr output.
#ifndef AIO_TESTING_LEAK_CHECK_H_
#define AIO_TESTING_LEAK_CHECK_H_

#include <mutex>
#include <string>
#include <vector>

#include "loop/logging.h"

namespace aio::testing {

class LeakCheck {
 public:
  LeakCheck();
  ~LeakCheck();
  LeakCheck(const LeakCheck&) = delete;
  LeakCheck& operator=(const LeakCheck&) = delete;

  // What leaked so far (the fd count is compared only at the end).
  std::vector<std::string> leaks() const;

 private:
  int fds_before_;
  LogSink previous_;
  mutable std::mutex mutex_;
  std::vector<std::string> leaks_;  // guarded by mutex_
};

}  // namespace aio::testing

#endif  // AIO_TESTING_LEAK_CHECK_H_
