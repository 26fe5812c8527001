"""Launching onboarding for one account or a whole cohort, with progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import Client

from adapters.launcher import start_onboarding
from context.db import session
from context.queries import NotFound, accounts_facts
from context.tables import Account
from contracts.ids import onboarding_id

# Starts are cheap RPCs; a bound keeps a 10,000-account cohort from opening
# 10,000 concurrent calls.
LAUNCH_CONCURRENCY = 16
# Accounts whose facts are read per query (SQLite caps the parameters of one).
READ_CHUNK = 500


class LaunchOutcome(BaseModel):
    account_id: str
    workflow_id: str
    outcome: str  # started | already running | failed
    error: str | None = None


def new_accounts(engine: Engine) -> list[str]:
    with session(engine) as s:
        return list(s.exec(select(Account.id).where(Account.stage == "new").order_by(Account.id)))


async def launch_onboarding(
    engine: Engine,
    client: Client,
    task_queue: str,
    account_ids: list[str],
    progress: Callable[[int, int, LaunchOutcome], None] = lambda *_: None,
) -> list[LaunchOutcome]:
    """Start each account's plan; already running ones are reported, not restarted."""
    # Every account's facts first, a chunk per query: a read per start would block
    # the event loop between starts.
    with session(engine) as s:
        facts = {
            f.account_id: f
            for i in range(0, len(account_ids), READ_CHUNK)
            for f in accounts_facts(s, account_ids[i : i + READ_CHUNK])
        }
    gate = asyncio.Semaphore(LAUNCH_CONCURRENCY)
    done = 0

    async def one(account_id: str) -> LaunchOutcome:
        nonlocal done
        async with gate:
            try:
                if account_id not in facts:
                    raise NotFound(f"account {account_id!r} is not in the context database")
                launch = await start_onboarding(client, task_queue, facts[account_id])
                result = LaunchOutcome(
                    account_id=account_id,
                    workflow_id=launch.handle.id,
                    outcome="started" if launch.started else "already running",
                )
            except (NotFound, RuntimeError, OSError) as err:
                result = LaunchOutcome(
                    account_id=account_id,
                    workflow_id=onboarding_id(account_id),
                    outcome="failed",
                    error=str(err),
                )
        done += 1
        progress(done, len(account_ids), result)
        return result

    return list(await asyncio.gather(*(one(a) for a in account_ids)))
