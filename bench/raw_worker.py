"""The raw-Temporal baseline worker: trivial workflows and activities on the same
SDK settings as `csops worker` (pollers, activity threads, sandbox, data
converter), so a ratio measures what csops adds, not a different worker.

    python -m bench.raw_worker ADDRESS TASK_QUEUE

Workflows (the benchmark picks one by name when it starts it):
- `raw.Noop`: returns at once (what a bulk launch starts).
- `raw.Timer`: waits 30 days on a timer (an open workflow, for memory).
- `raw.Chain`: `steps` trivial activities one after another, then, with a
  `notify_db`, one activity that commits a row to that SQLite file's outbox (a
  hot ticket's shape: context, assessment, policy ... then the CSM notification).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow

# Passed through like csops's own workflow imports, so the sandbox does not re-import them.
with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel
    from temporalio.worker import Worker

    from adapters.settings import Settings
    from adapters.temporal_client import connect

STEP_TIMEOUT = timedelta(seconds=30)
OUTBOX_TABLE = "CREATE TABLE IF NOT EXISTS outbox (key TEXT PRIMARY KEY, committed_at REAL)"


class ChainInput(BaseModel):
    key: str
    steps: int
    notify_db: str | None = None


@activity.defn(name="raw.step")
def step(n: int) -> int:
    return n + 1


@activity.defn(name="raw.notify")
def notify(chain: ChainInput) -> None:
    """Commit the notification row, stamped with the wall clock at commit."""
    assert chain.notify_db
    with sqlite3.connect(chain.notify_db, timeout=30) as db:
        db.execute("INSERT OR IGNORE INTO outbox VALUES (?, ?)", (chain.key, time.time()))


@workflow.defn(name="raw.Noop")
class Noop:
    @workflow.run
    async def run(self, key: str) -> str:
        return key


@workflow.defn(name="raw.Timer")
class Timer:
    @workflow.run
    async def run(self, key: str) -> str:
        await workflow.sleep(timedelta(days=30))
        return key


@workflow.defn(name="raw.Chain")
class Chain:
    @workflow.run
    async def run(self, chain: ChainInput) -> int:
        n = 0
        for _ in range(chain.steps):
            n = await workflow.execute_activity(step, n, start_to_close_timeout=STEP_TIMEOUT)
        if chain.notify_db:
            await workflow.execute_activity(notify, chain, start_to_close_timeout=STEP_TIMEOUT)
        return n


def prepare_outbox(path: str) -> None:
    """The raw side's outbox table (WAL, like a server database would be)."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(OUTBOX_TABLE)


async def main(address: str, task_queue: str) -> None:
    settings = Settings()  # the same pollers csops's worker takes from its settings
    client = await connect(address, "default", ())
    with ThreadPoolExecutor(max_workers=16) as executor:  # as worker.run_worker
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[Noop, Timer, Chain],
            activities=[step, notify],
            activity_executor=executor,
            max_concurrent_workflow_task_polls=settings.workflow_pollers,
            max_concurrent_activity_task_polls=settings.activity_pollers,
            max_cached_workflows=settings.workflow_cache,
        )
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
