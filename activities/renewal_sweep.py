"""The sweep's one activity: start the package workflows of one batch of
accounts whose renewal enters the window. The starter is injected by the worker
(starting workflows is I/O); it starts them by type name, so no workflow code is
imported here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio import activity
from temporalio.service import RPCError

from adapters.launcher import Launch
from context.db import session
from context.queries import accounts_facts
from context.tables import Account, RenewalPackageRecord
from contracts.accounts import AccountFacts
from contracts.sweep import SweepBatchInput, SweepBatchResult, SweepCounts

# Starts one account's package for its renewal date; attaches when one exists.
RenewalStarter = Callable[[str, AccountFacts], Awaitable[Launch]]

# Packages a batch keeps being assembled at once (started, not yet stored). Started
# all at once, 10,000 packages outnumber the worker's workflow cache (1,000 by
# default) and every workflow task replays its history: about 70 stored per minute
# early in a 10,000-package sweep; 294 per minute over all 10,000 with this bound.
IN_FLIGHT = 200
POLL_S = 0.5
STALL_S = 300  # none stored for this long (packages failing?): stop waiting for them


class SweepActivities:
    def __init__(self, engine: Engine, start_package: RenewalStarter) -> None:
        self._engine = engine
        self._start_package = start_package

    def _stored(self, workflow_ids: list[str]) -> set[str]:
        with session(self._engine) as s:
            return set(
                s.exec(
                    select(col(RenewalPackageRecord.workflow_id)).where(
                        col(RenewalPackageRecord.workflow_id).in_(workflow_ids)
                    )
                ).all()
            )

    def _batch(self, inp: SweepBatchInput) -> list[tuple[AccountFacts, bool]]:
        """The next accounts in the window (by id), each with: has it a package already?"""
        window_end = inp.as_of + timedelta(days=inp.window_days)
        with session(self._engine) as s:
            q = (
                select(Account.id)
                .where(Account.renewal_date >= inp.as_of, Account.renewal_date <= window_end)
                .order_by(Account.id)
                .limit(inp.batch_size)
            )
            if inp.after_account_id:
                q = q.where(Account.id > inp.after_account_id)
            ids = list(s.exec(q))
            facts = accounts_facts(s, ids)
            stored = (
                set(
                    s.exec(
                        select(
                            col(RenewalPackageRecord.account_id),
                            col(RenewalPackageRecord.renewal_date),
                        ).where(col(RenewalPackageRecord.account_id).in_(ids))
                    ).all()
                )
                if ids
                else set()
            )
        return [(f, (f.account_id, f.renewal_date) in stored) for f in facts]

    @activity.defn(name="start_renewal_batch")
    async def start_renewal_batch(self, inp: SweepBatchInput) -> SweepBatchResult:
        """Start one package per account of the batch; an existing one is skipped.

        Idempotent: a retried batch finds the packages it started and skips them.
        """
        batch = await asyncio.to_thread(self._batch, inp)
        counts = SweepCounts()
        gate = asyncio.Semaphore(inp.concurrency)
        assembling: set[str] = set()  # started by this batch, not stored yet
        starting = 0  # starts under way (counted before they return)
        checking = asyncio.Lock()

        def progress() -> None:
            activity.heartbeat(counts.started + counts.skipped + counts.failed)

        async def room() -> None:
            """Until fewer than IN_FLIGHT of this batch's packages are being assembled;
            then counts this start as under way."""
            nonlocal starting
            loop = asyncio.get_running_loop()
            async with checking:
                since = loop.time()
                while len(assembling) + starting >= IN_FLIGHT:
                    stored = (
                        await asyncio.to_thread(self._stored, sorted(assembling))
                        if assembling
                        else set()
                    )
                    if stored:
                        assembling.difference_update(stored)
                        since = loop.time()
                    elif loop.time() - since > STALL_S:
                        assembling.clear()
                    if len(assembling) + starting >= IN_FLIGHT:
                        progress()
                        await asyncio.sleep(POLL_S)
                starting += 1

        async def one(facts: AccountFacts, has_package: bool) -> None:
            nonlocal starting
            if has_package:
                counts.skipped += 1
                return
            async with gate:
                await room()
                try:
                    launch = await self._start_package(inp.task_queue, facts)
                except (RPCError, RuntimeError) as err:
                    counts.failed += 1
                    if len(counts.failures) < 10:
                        counts.failures.append(f"{facts.account_id}: {err}")
                    return
                finally:
                    starting -= 1
            if launch.started:
                counts.started += 1
                assembling.add(launch.handle.id)
            else:
                counts.skipped += 1
            progress()

        await asyncio.gather(*(one(f, has) for f, has in batch))
        return SweepBatchResult(
            counts=counts,
            accounts_seen=len(batch),
            last_account_id=batch[-1][0].account_id if batch else inp.after_account_id,
            done=len(batch) < inp.batch_size,
        )
