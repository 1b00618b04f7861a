#include "testing/fd_count.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

namespace aio::testing {
namespace {

// Files mapped into this process (the executable, shared libraries). A symbolizer (absl's, used
// by debug mode's coroutine reports) keeps descriptors of these open as a process-wide cache:
// that is not a leak of the code under test, so they are not counted.
std::set<std::string> mapped_files() {
  std::set<std::string> files;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::size_t slash = line.find('/');
    if (slash != std::string::npos) files.insert(line.substr(slash));
  }
  return files;
}

}  // namespace

int open_fd_count() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  std::set<std::string> mapped = mapped_files();
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    std::string link = std::string("/proc/self/fd/") + entry->d_name;
    char target[4096];
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n > 0 && mapped.count(std::string(target, n)) != 0) continue;
    ++count;
  }
  closedir(dir);
  return count;  // includes ".", ".." and the directory's own fd, the same on every call
}

}  // namespace aio::testing
