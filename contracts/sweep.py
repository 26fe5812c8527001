"""The nightly renewal sweep's messages."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class SweepCounts(BaseModel):
    started: int = 0
    skipped: int = 0  # a package exists or runs for this renewal already
    failed: int = 0
    failures: list[str] = []  # the first few, with their reason


class SweepInput(BaseModel):
    """Empty when the Schedule starts it; filled in when it continues as new."""

    as_of: date | None = None
    after_account_id: str | None = None
    totals: SweepCounts = SweepCounts()
    batches_done: int = 0


class SweepBatchInput(BaseModel):
    as_of: date
    window_days: int
    after_account_id: str | None
    batch_size: int
    concurrency: int
    task_queue: str


class SweepBatchResult(BaseModel):
    counts: SweepCounts
    accounts_seen: int
    last_account_id: str | None
    done: bool  # no account after this batch


class SweepReport(BaseModel):
    as_of: date
    window_end: date
    counts: SweepCounts
    batches: int
