"""The raw baseline of a bulk launch: the smallest program a Temporal user would
write to start N workflows, as a process of its own like `csops onboard`.

    python -m bench.raw_launch ADDRESS TASK_QUEUE PREFIX N CONCURRENCY

Starts `raw.Noop` N times (ids PREFIX0 .. PREFIX{N-1}) with at most CONCURRENCY
starts in flight, and writes one progress line per start to stderr, as `csops
onboard` does, so the benchmark times both the same way.
"""

from __future__ import annotations

import asyncio
import os
import sys

from temporalio.client import Client


async def main(address: str, task_queue: str, prefix: str, n: int, concurrency: int) -> None:
    client = await Client.connect(address)
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(i: int) -> None:
        nonlocal done
        async with gate:
            await client.start_workflow(
                "raw.Noop", str(i), id=f"{prefix}{i}", task_queue=task_queue
            )
        done += 1
        print(f"[{done}/{n}] {prefix}{i}: started", file=sys.stderr, flush=True)

    await asyncio.gather(*(one(i) for i in range(n)))


if __name__ == "__main__":
    address, queue, prefix, n, concurrency = sys.argv[1:]
    asyncio.run(main(address, queue, prefix, int(n), int(concurrency)))
    # Every start is done and reported. The SDK's core threads can abort a finalizing
    # interpreter (PyGILState_Release, seen once in 300 starts): skip finalizing.
    sys.stderr.flush()
    os._exit(0)
