#!/bin/sh
# A short, bounded run of //tls:ssl_protocol_fuzzer (seeded, fixed number of inputs): it must
# end without a finding. Longer runs: see the fuzzer's header comment and bench/README.md.
set -eu
fuzzer="$1"
corpus=$(mktemp -d /tmp/aio-tls-fuzz-XXXXXX)
trap 'rm -rf "$corpus"' EXIT
# Seeds: the start of a TLS ClientHello record (to the server side) and of a ServerHello (to the
# client side), so mutations begin inside the TLS grammar.
printf '\000\026\003\001\000\200\001\000\000\174\003\003' > "$corpus/client_hello"
printf '\001\026\003\003\000\132\002\000\000\126\003\003' > "$corpus/server_hello"
# Scripted mode (bit 1 of the first byte): a real handshake, then operations (see the fuzzer).
printf '\002\000\005hello\007\020\006\000\003\000\006\000' > "$corpus/script_server"
printf '\003\000\005hello\010\001\001\100\010\000\011\001\007\200\012\000' > "$corpus/script_client"
"$fuzzer" -seed=1 -runs=800 -max_len=4096 -timeout=10 "$corpus"
