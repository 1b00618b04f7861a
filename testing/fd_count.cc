#include "testing/fd_count.h"

#include <dirent.h>

namespace aio::testing {

int open_fd_count() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (readdir(dir) != nullptr) ++count;
  closedir(dir);
  return count;  // includes ".", ".." and the directory's own fd, the same on every call
}

}  // namespace aio::testing
