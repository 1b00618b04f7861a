// The command line of every TLS echo server in bench/tls: bench/echo's server contract
// (--host, --port, "listening on PORT" first) plus the certificate and key to serve with.
//   --cert server.pem --key server.key [--host 127.0.0.1] [--port 0]
#ifndef AIO_BENCH_TLS_TLS_SERVER_ARGS_H_
#define AIO_BENCH_TLS_TLS_SERVER_ARGS_H_

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/echo/server_args.h"

namespace tls_bench {

struct TlsServerArgs {
  echo_bench::ServerArgs net;
  std::string cert, key;
};

inline TlsServerArgs parse_tls_server_args(int argc, char** argv) {
  TlsServerArgs args;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && std::strcmp(argv[i], "--cert") == 0) {
      args.cert = argv[++i];
    } else if (i + 1 < argc && std::strcmp(argv[i], "--key") == 0) {
      args.key = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  args.net = echo_bench::parse_server_args(static_cast<int>(rest.size()), rest.data());
  if (args.cert.empty() || args.key.empty()) {
    std::fprintf(stderr, "usage: %s --cert PEM --key PEM [--host H] [--port N]\n", argv[0]);
    std::exit(2);
  }
  return args;
}

}  // namespace tls_bench

#endif  // AIO_BENCH_TLS_TLS_SERVER_ARGS_H_
