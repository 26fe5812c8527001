"""The raw baseline of a bulk launch: the smallest program a Temporal user would
write to start N workflows, as a process of its own like `csops onboard`.

    python -m bench.raw_launch ADDRESS TASK_QUEUE PREFIX N CONCURRENCY [--shown]

Starts `raw.Noop` N times (ids PREFIX0 .. PREFIX{N-1}) with at most CONCURRENCY
starts in flight, and writes one progress line per start to stderr, as `csops
onboard` does, so the benchmark times both the same way.

--shown: each start also carries what a csops start shows (the same search
attributes, typed as csops registers them, and a summary and details of the same
length), so the benchmark can tell the server's cost of those from csops's own.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

# What `adapters.launcher` puts on an onboarding at its start (contracts/
# search_attributes.py), spelled out here so the baseline imports no csops code.
DETAILS = (
    "**Account** Account {i} · mid-market · $48,000 ARR · renews 2027-05-01 · acc-{i:05d}"
    "\n\nRuns the mid-market 30-day onboarding plan from policies/onboarding.yaml: "
    "milestones, activation checks on usage, interventions, and the day-30 review."
)


KEYS: tuple[SearchAttributeKey[Any], ...] = (
    SearchAttributeKey.for_keyword("CsopsAccountId"),
    SearchAttributeKey.for_keyword("CsopsSegment"),
    SearchAttributeKey.for_float("CsopsArr"),
    SearchAttributeKey.for_keyword("CsopsStage"),
    SearchAttributeKey.for_int("CsopsPendingApprovals"),
)


def shown(i: int) -> dict[str, Any]:
    values = (f"acc-{i:05d}", "mid-market", 48_000.0, "starting", 0)
    return {
        "search_attributes": TypedSearchAttributes(
            [SearchAttributePair(key, value) for key, value in zip(KEYS, values, strict=True)]
        ),
        "static_summary": f"Onboarding · Account {i} (mid-market)",
        "static_details": DETAILS.format(i=i),
    }


async def main(
    address: str, task_queue: str, prefix: str, n: int, concurrency: int, with_shown: bool
) -> None:
    client = await Client.connect(address)
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(i: int) -> None:
        nonlocal done
        async with gate:
            await client.start_workflow(
                "raw.Noop",
                str(i),
                id=f"{prefix}{i}",
                task_queue=task_queue,
                **(shown(i) if with_shown else {}),
            )
        done += 1
        print(f"[{done}/{n}] {prefix}{i}: started", file=sys.stderr, flush=True)

    await asyncio.gather(*(one(i) for i in range(n)))


if __name__ == "__main__":
    address, queue, prefix, n, concurrency = sys.argv[1:6]
    asyncio.run(main(address, queue, prefix, int(n), int(concurrency), "--shown" in sys.argv[6:]))
    # Every start is done and reported. The SDK's core threads can abort a finalizing
    # interpreter (PyGILState_Release, seen once in 300 starts): skip finalizing.
    sys.stderr.flush()
    os._exit(0)
