#!/usr/bin/env python3
"""The queue benchmark of bench/queue_bench.cc (BM_QueueProducerConsumer) on CPython asyncio and
on uvloop, for the ratio aio : asyncio : uvloop in bench/README.md.

One producer task puts N integers into an asyncio.Queue (`await q.put(i)`), one consumer task
gets them (`await q.get()`); the round is timed from the tasks' creation to the consumer's end,
and the best of several rounds is printed as items per second, for each maxsize.

    /usr/bin/python3 bench/queue_compare.py              # Debian's python3 with python3-uvloop
    /usr/bin/python3 bench/queue_compare.py --items 100000 --rounds 5 --maxsize 0 64
"""
import argparse
import asyncio
import sys
import time


async def producer(queue, items):
    for i in range(items):
        await queue.put(i)


async def consumer(queue, items):
    total = 0
    for _ in range(items):
        total += await queue.get()
    return total


async def one_round(queue, items):
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    put = loop.create_task(producer(queue, items))
    get = loop.create_task(consumer(queue, items))
    await put
    total = await get
    elapsed = time.perf_counter() - start
    if total != items * (items - 1) // 2:
        raise RuntimeError("items were lost")
    return elapsed


async def best_rate(maxsize, items, rounds):
    queue = asyncio.Queue(maxsize)
    best = min([await one_round(queue, items) for _ in range(rounds)])
    return items / best


def measure(name, new_loop, args):
    for maxsize in args.maxsize:
        loop = new_loop()
        try:
            rate = loop.run_until_complete(best_rate(maxsize, args.items, args.rounds))
        finally:
            loop.close()
        print(f"{name:8} maxsize={maxsize:<3} {rate / 1e6:8.3f} M items/s "
              f"{1e9 / rate:9.1f} ns/item")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100000, help="items per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is printed")
    parser.add_argument("--maxsize", type=int, nargs="+", default=[0, 64, 1])
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {args.items} items per round, best of {args.rounds}")
    measure("asyncio", asyncio.new_event_loop, args)
    try:
        import uvloop
    except ImportError:
        print("uvloop   not installed (apt-get install python3-uvloop): skipped")
        return
    measure("uvloop", uvloop.new_event_loop, args)


if __name__ == "__main__":
    main()
