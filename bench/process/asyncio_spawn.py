#!/usr/bin/python3
"""Spawn + wait of /bin/true on CPython's asyncio (or uvloop with --uvloop): the peer of
bench/process's aio and libuv programs. Prints one line:

  peer=asyncio mode=sequential spawns=N wall_s=.. cpu_s=.. spawns_per_s=.. cpu_us_per_spawn=..

--inflight K keeps K children running at once (1 = sequential). cpu_s is this process's own
user+system time (its threads included, the children's not) over the timed window, after
--warmup spawns. Children inherit stdin/stdout/stderr (no pipes), as in the other peers.
"""
import argparse
import asyncio
import resource
import time


def cpu_now():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def spawn_and_wait():
    proc = await asyncio.create_subprocess_exec("/bin/true", stdin=None, stdout=None, stderr=None)
    code = await proc.wait()
    if code != 0:
        raise SystemExit(f"/bin/true exited with {code}")


async def run(count, inflight):
    started = 0

    async def worker():
        nonlocal started
        while started < count:
            started += 1
            await spawn_and_wait()

    await asyncio.gather(*(worker() for _ in range(min(inflight, count))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        uvloop.install()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if not args.uvloop:
        asyncio.get_child_watcher().attach_loop(loop)  # the default watcher (Threaded in 3.11)
    loop.run_until_complete(run(args.warmup, args.inflight))
    wall0, cpu0 = time.monotonic(), cpu_now()
    loop.run_until_complete(run(args.count, args.inflight))
    wall, cpu = time.monotonic() - wall0, cpu_now() - cpu0
    loop.close()
    mode = "sequential" if args.inflight == 1 else f"inflight{args.inflight}"
    print(f"peer={'uvloop' if args.uvloop else 'asyncio'} mode={mode} spawns={args.count} "
          f"wall_s={wall:.4f} cpu_s={cpu:.4f} spawns_per_s={args.count / wall:.1f} "
          f"cpu_us_per_spawn={cpu / args.count * 1e6:.1f}", flush=True)


if __name__ == "__main__":
    main()
