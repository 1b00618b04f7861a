// How many file descriptors this process has open (entries of /proc/self/fd), not counting
// descriptors of files mapped into the process (a symbolizer caches those; see fd_count.cc).
#ifndef AIO_TESTING_FD_COUNT_H_
#define AIO_TESTING_FD_COUNT_H_

namespace aio::testing {

int open_fd_count();

}  // namespace aio::testing

#endif  // AIO_TESTING_FD_COUNT_H_
