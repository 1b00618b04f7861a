"""CPython asyncio's TLS echo server for bench/tls: a Protocol echoing what it receives over
loop.create_server(ssl=...) (sslproto), as aio's examples/tls_echo server does.

    /usr/bin/python3 asyncio_tls_echo_server.py --cert server.pem --key server.key
                                       [--host 127.0.0.1] [--port 0] [--uvloop]

Prints "listening on PORT" once it listens (bench/echo's server contract), serves until killed.
--uvloop runs it on uvloop's loop (Debian's python3-uvloop, for /usr/bin/python3).
"""
import argparse
import asyncio
import ssl


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(args):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, args.host, args.port, ssl=context)
    print("listening on %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        uvloop.install()
    asyncio.run(main(args))
