"""Activity timeouts and retries, by kind of work. Passed as explicit keyword
arguments at every call, so the SDK's typed overloads check each one."""

from __future__ import annotations

from datetime import timedelta

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
