"""CPython's asyncio streams echo server for bench/echo (load generator with --lines).

    python3 asyncio_streams_echo_server.py [--host 127.0.0.1] [--port 0] [--uvloop]

The same shape as streams_echo_server.cc: readline / write / drain per message. Prints
"listening on PORT" once it listens (bench/echo's server contract), serves until killed.
--uvloop runs it on uvloop's loop (Debian's python3-uvloop, for /usr/bin/python3).
"""
import argparse
import asyncio
import socket


async def echo_lines(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except ConnectionError:
        pass  # the load generator just stops at the end of a run
    writer.close()


async def main(host, port):
    server = await asyncio.start_server(echo_lines, host, port)
    print("listening on %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        uvloop.install()
    asyncio.run(main(args.host, args.port))
