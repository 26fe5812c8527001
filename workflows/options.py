"""Activity timeouts and retries, by kind of work. Passed as explicit keyword
arguments at every call, so the SDK's typed overloads check each one."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# Database reads and writes: quick, and worth retrying until the database is back.
RECORD_TIMEOUT = timedelta(seconds=30)
RECORD_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))

# Renewal sections read 90 days of a large account's usage.
SECTION_TIMEOUT = timedelta(minutes=2)

# LLM calls: the client never retries; Temporal does, a bounded number of times.
LLM_TIMEOUT = timedelta(seconds=90)
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
)


def activity_runner(local: bool):  # the SDK method itself, so its typed overloads apply
    """How to run an activity method: as a local activity (a quick read or insert: no
    task queue round trip, no workflow task of its own) or through the task queue."""
    return workflow.execute_local_activity_method if local else workflow.execute_activity_method


def run_is_full(batches_this_run: int, batches_per_run: int) -> bool:
    """A sweep continues as new after its run's share of batches, or sooner when the
    server finds its history large: a night over a large book stays small runs."""
    return batches_this_run >= batches_per_run or workflow.info().is_continue_as_new_suggested()
