"""The nightly health sweep's work: record the health of a batch of accounts, and
tell each account's watch (`health/{account_id}`) what the night found. The
signaller is injected by the worker (signalling workflows is I/O); it starts the
watch by type name, so no workflow code is imported here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio import activity

from activities.renewal_sections import anger_judge
from context.db import session
from context.health import record_health
from context.queries import NotFound, account_facts
from context.tables import Account
from context.watch import watch_findings
from contracts.accounts import AccountFacts
from contracts.health import HealthBatchInput, HealthBatchResult, HealthCounts, WatchFindings
from policies.loader import load_policies
from policies.model import PolicySet

# Signal-with-start of one account's watch on this task queue with the night's findings.
WatchSignaller = Callable[[str, AccountFacts, WatchFindings], Awaitable[None]]
# Signals under way at once while the next accounts are scored.
SIGNALS_IN_FLIGHT = 20


class HealthActivities:
    """Database work runs on threads; the signals to the watches on the event loop."""

    def __init__(
        self, engine: Engine, signal_watch: WatchSignaller, policy_dir: Path | None = None
    ) -> None:
        self._engine = engine
        self._signal_watch = signal_watch
        self._policy_dir = policy_dir

    def _batch_ids(self, inp: HealthBatchInput) -> list[str]:
        with session(self._engine) as s:
            query = select(Account.id).order_by(col(Account.id)).limit(inp.batch_size + 1)
            if inp.after_account_id is not None:
                query = query.where(col(Account.id) > inp.after_account_id)
            return list(s.exec(query).all())

    def _score(
        self, account_id: str, inp: HealthBatchInput, policies: PolicySet
    ) -> tuple[AccountFacts, WatchFindings]:
        """Record the account's score for the day; what its watch acts on."""
        health = record_health(self._engine, account_id, inp.as_of, policies, anger_judge)
        with session(self._engine) as s:
            return account_facts(s, account_id), watch_findings(s, health, policies, anger_judge)

    @activity.defn(name="record_health_batch")
    async def record_health_batch(self, inp: HealthBatchInput) -> HealthBatchResult:
        """Score and store the next `batch_size` accounts after `after_account_id`
        (by id), and signal each one's watch. Idempotent: a day's row per account is
        replaced, and a watch acts once per day, so a retried or repeated batch
        stores the same rows and changes nothing else."""
        policies = await asyncio.to_thread(load_policies, self._policy_dir)  # tonight's files
        ids = await asyncio.to_thread(self._batch_ids, inp)
        batch, more = ids[: inp.batch_size], len(ids) > inp.batch_size
        task_queue = activity.info().task_queue  # the worker's queue runs the watches too
        gate = asyncio.Semaphore(SIGNALS_IN_FLIGHT)

        async def signal(facts: AccountFacts, findings: WatchFindings) -> None:
            async with gate:
                await self._signal_watch(task_queue, facts, findings)

        counts = HealthCounts()
        signals = []
        for n, account_id in enumerate(batch):
            activity.heartbeat(n)
            try:
                facts, findings = await asyncio.to_thread(self._score, account_id, inp, policies)
            # An account gone since the listing, or data the score cannot read, fails
            # that account alone; a database error fails the batch, which is retried.
            except (NotFound, ValueError) as err:
                counts = counts.plus(
                    HealthCounts(failed=1, failures=[f"{account_id}: {type(err).__name__}: {err}"])
                )
                continue
            signals.append(asyncio.create_task(signal(facts, findings)))
            counts = counts.plus(HealthCounts(scored=1, bands={findings.health.band: 1}))
        # A signal that fails fails the batch: the retry scores it again, the watch
        # acts once per day.
        await asyncio.gather(*signals)
        return HealthBatchResult(
            counts=counts, last_account_id=batch[-1] if batch else None, done=not more
        )
