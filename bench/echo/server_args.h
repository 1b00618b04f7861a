// The command line every echo server in bench/echo shares (see README.md, "Server contract"):
//   --host ADDR   IPv4 address to listen on (default 127.0.0.1)
//   --port N      TCP port, 0 = let the kernel pick one (default 0)
// and the first line each prints on stdout once it listens: "listening on PORT".
#ifndef AIO_BENCH_ECHO_SERVER_ARGS_H_
#define AIO_BENCH_ECHO_SERVER_ARGS_H_

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace echo_bench {

struct ServerArgs {
  std::string host = "127.0.0.1";
  int port = 0;
};

inline ServerArgs parse_server_args(int argc, char** argv) {
  ServerArgs args;
  for (int i = 1; i < argc; ++i) {
    const char* flag = argv[i];
    if (i + 1 < argc && std::strcmp(flag, "--host") == 0) {
      args.host = argv[++i];
    } else if (i + 1 < argc && std::strcmp(flag, "--port") == 0) {
      args.port = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--host 127.0.0.1] [--port N (0: any)]\n", argv[0]);
      std::exit(2);
    }
  }
  return args;
}

// The contract's first line; flushed, so a script reading a pipe or a file sees it at once.
inline void announce_port(int port) {
  std::printf("listening on %d\n", port);
  std::fflush(stdout);
}

}  // namespace echo_bench

#endif  // AIO_BENCH_ECHO_SERVER_ARGS_H_
