"""The nightly health sweep's work: record the health of a batch of accounts."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio import activity

from activities.renewal_sections import anger_judge
from context.db import session
from context.health import record_health
from context.queries import NotFound
from context.tables import Account
from contracts.health import HealthBatchInput, HealthBatchResult, HealthCounts
from policies.loader import load_policies


class HealthActivities:
    """Synchronous DB work; the worker runs it on its thread pool."""

    def __init__(self, engine: Engine, policy_dir: Path | None = None) -> None:
        self._engine = engine
        self._policy_dir = policy_dir

    @activity.defn(name="record_health_batch")
    def record_health_batch(self, inp: HealthBatchInput) -> HealthBatchResult:
        """Score and store the next `batch_size` accounts after `after_account_id`
        (by id). Idempotent: a day's row per account is replaced, so a retried or
        repeated batch stores the same rows again."""
        policies = load_policies(self._policy_dir)  # the files in force tonight
        with session(self._engine) as s:
            query = select(Account.id).order_by(col(Account.id)).limit(inp.batch_size + 1)
            if inp.after_account_id is not None:
                query = query.where(col(Account.id) > inp.after_account_id)
            ids = list(s.exec(query).all())
        batch, more = ids[: inp.batch_size], len(ids) > inp.batch_size
        counts = HealthCounts()
        for n, account_id in enumerate(batch):
            activity.heartbeat(n)
            try:
                health = record_health(self._engine, account_id, inp.as_of, policies, anger_judge)
            # An account gone since the listing, or data the score cannot read, fails
            # that account alone; a database error fails the batch, which is retried.
            except (NotFound, ValueError) as err:
                counts = counts.plus(
                    HealthCounts(failed=1, failures=[f"{account_id}: {type(err).__name__}: {err}"])
                )
                continue
            counts = counts.plus(HealthCounts(scored=1, bands={health.band: 1}))
        return HealthBatchResult(
            counts=counts, last_account_id=batch[-1] if batch else None, done=not more
        )
