#!/usr/bin/env python3
"""BM_LockUncontended of bench/queue_bench.cc on CPython asyncio and on uvloop: one task does
`await lock.acquire(); lock.release()` N times; the best of several rounds is printed.

    /usr/bin/python3 bench/lock_compare.py    # Debian's python3 with python3-uvloop
"""
import asyncio
import sys
import time

ITEMS = 100000
ROUNDS = 5


async def lock_round(lock, items):
    start = time.perf_counter()
    for _ in range(items):
        await lock.acquire()
        lock.release()
    return time.perf_counter() - start


async def best(items, rounds):
    lock = asyncio.Lock()
    return min([await lock_round(lock, items) for _ in range(rounds)])


def measure(name, new_loop):
    loop = new_loop()
    try:
        elapsed = loop.run_until_complete(best(ITEMS, ROUNDS))
    finally:
        loop.close()
    print(f"{name:8} {ITEMS / elapsed / 1e6:8.3f} M acquire+release/s {elapsed / ITEMS * 1e9:9.1f} ns each")


def main():
    print(f"python {sys.version.split()[0]}, {ITEMS} acquire+release per round, best of {ROUNDS}")
    measure("asyncio", asyncio.new_event_loop)
    try:
        import uvloop
    except ImportError:
        print("uvloop   not installed (apt-get install python3-uvloop)")
        return
    measure("uvloop", uvloop.new_event_loop)


if __name__ == "__main__":
    main()
