#!/usr/bin/env python3
"""Open N SMTP connections to HOST:PORT (loopback only), read each greeting,
and hold them all open, idle, until stdin closes or HOLD seconds pass.

    python3 bench/idle_clients.py N HOST PORT [HOLD_SECONDS]

Prints `open N` on stdout once every connection has its greeting (or
`open K failed F` when some could not connect), then waits. Used by
bench/memory.sh to measure the server's RSS with 10,000 idle sessions.
Bounded: connects at most N times, never retries, exits after HOLD seconds
(default 120) whatever happens.
"""

import asyncio
import ipaddress
import os
import resource
import sys


async def open_one(host, port, sem, timeout):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout
            )
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line.startswith(b"220"):
                writer.close()
                return None
            return writer
        except (OSError, asyncio.TimeoutError):
            return None


async def wait_stdin_eof():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def main():
    n = int(sys.argv[1])
    host = sys.argv[2]
    port = int(sys.argv[3])
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("idle_clients: loopback addresses only")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    # Connect in bounded parallel batches so the listen queue never overflows.
    sem = asyncio.Semaphore(200)
    writers = await asyncio.gather(*(open_one(host, port, sem, 30) for _ in range(n)))
    ok = [w for w in writers if w is not None]
    failed = n - len(ok)
    print(f"open {len(ok)}" + (f" failed {failed}" if failed else ""), flush=True)
    try:
        await asyncio.wait_for(wait_stdin_eof(), hold)
    except asyncio.TimeoutError:
        pass
    for w in ok:
        w.close()
    print("closed", flush=True)
    # The stdin reader thread may still be blocked: do not wait for it.
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
