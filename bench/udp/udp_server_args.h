// The command line both UDP echo servers in bench/udp share (see README.md, "Server contract"):
//   --host ADDR   IPv4 address to bind (default 127.0.0.1)
//   --port N      UDP port, 0 = let the kernel pick one (default 0)
//   --batch N     raw epoll server only: recvfrom calls per readable event at most (default 1)
// and the first line each prints on stdout once it is bound: "listening on PORT".
#ifndef AIO_BENCH_UDP_UDP_SERVER_ARGS_H_
#define AIO_BENCH_UDP_UDP_SERVER_ARGS_H_

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace udp_bench {

struct ServerArgs {
  std::string host = "127.0.0.1";
  int port = 0;
  int batch = 1;
};

inline ServerArgs parse_server_args(int argc, char** argv, bool allow_batch) {
  ServerArgs args;
  for (int i = 1; i < argc; ++i) {
    const char* flag = argv[i];
    if (i + 1 < argc && std::strcmp(flag, "--host") == 0) {
      args.host = argv[++i];
    } else if (i + 1 < argc && std::strcmp(flag, "--port") == 0) {
      args.port = std::atoi(argv[++i]);
    } else if (allow_batch && i + 1 < argc && std::strcmp(flag, "--batch") == 0) {
      args.batch = std::atoi(argv[++i]);
    } else {
      args.batch = 0;  // usage below
      break;
    }
  }
  if (args.batch < 1 || args.port < 0 || args.port > 65535) {
    std::fprintf(stderr, "usage: %s [--host 127.0.0.1] [--port N (0: any)]%s\n", argv[0],
                 allow_batch ? " [--batch N]" : "");
    std::exit(2);
  }
  return args;
}

// The contract's first line; flushed, so a script reading a pipe or a file sees it at once.
inline void announce_port(int port) {
  std::printf("listening on %d\n", port);
  std::fflush(stdout);
}

}  // namespace udp_bench

#endif  // AIO_BENCH_UDP_UDP_SERVER_ARGS_H_
