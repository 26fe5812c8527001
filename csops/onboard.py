"""Launching onboarding for one account or a whole cohort, with progress.

Onboarding is for accounts in stage `new`: a plan started for an account that is
already adopting would send it "Welcome and first steps" again. Starting one
anyway is a human's call, made with `forced_by` and written to the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import Client

from activities.records import write_audit
from adapters.launcher import start_onboarding
from context.db import session
from context.queries import NotFound, accounts_facts
from context.tables import Account
from contracts.accounts import AccountFacts
from contracts.ids import onboarding_id
from contracts.records import AuditEntry

# Starts are cheap RPCs; a bound keeps a 10,000-account cohort from opening
# 10,000 concurrent calls.
LAUNCH_CONCURRENCY = 16
# Accounts whose facts are read per query (SQLite caps the parameters of one).
READ_CHUNK = 500
NEW_STAGE = "new"
FORCED_ACTION = "onboarding_forced"


class LaunchOutcome(BaseModel):
    account_id: str
    workflow_id: str
    outcome: str  # started | already running | failed
    error: str | None = None


class NotNewAccounts(ValueError):
    """Accounts past stage `new` were named without `forced_by`; nothing was started."""


def new_accounts(engine: Engine) -> list[str]:
    with session(engine) as s:
        return list(
            s.exec(select(Account.id).where(Account.stage == NEW_STAGE).order_by(Account.id))
        )


def not_new_refusal(accounts: list[AccountFacts]) -> str:
    """One sentence naming each account's stage."""
    stages = " and ".join(f"{a.account_id} is in stage {a.stage}" for a in accounts)
    them = "it" if len(accounts) == 1 else "them"
    return (
        f"{stages}, not {NEW_STAGE}; onboarding starts only for new accounts "
        f"(use --force to start {them} anyway)"
    )


def _audit_forced(engine: Engine, forced: list[tuple[AccountFacts, str, str]], by: str) -> None:
    """One row per forced start: who forced it, the stage it was in, when. The run id
    in the key makes each forced run its own row."""
    at = datetime.now(UTC)
    for facts, workflow_id, run_id in forced:
        write_audit(
            engine,
            AuditEntry(
                idempotency_key=f"{workflow_id}/{run_id}/{FORCED_ACTION}",
                at=at,
                workflow_id=workflow_id,
                account_id=facts.account_id,
                actor=by,
                action=FORCED_ACTION,
                outcome="started",
                detail={"stage": facts.stage, "forced_by": by},
            ),
        )


async def launch_onboarding(
    engine: Engine,
    client: Client,
    task_queue: str,
    account_ids: list[str],
    progress: Callable[[int, int, LaunchOutcome], None] = lambda *_: None,
    forced_by: str | None = None,
) -> list[LaunchOutcome]:
    """Start each account's plan; already running ones are reported, not restarted.

    Raises:
        NotNewAccounts: an account is past stage `new` and `forced_by` (who starts it
            anyway) is not given; nothing is started then.
    """
    # Every account's facts first, a chunk per query: a read per start would block
    # the event loop between starts.
    with session(engine) as s:
        facts = {
            f.account_id: f
            for i in range(0, len(account_ids), READ_CHUNK)
            for f in accounts_facts(s, account_ids[i : i + READ_CHUNK])
        }
    late = [facts[a] for a in account_ids if a in facts and facts[a].stage != NEW_STAGE]
    if late and forced_by is None:
        raise NotNewAccounts(not_new_refusal(late))
    gate = asyncio.Semaphore(LAUNCH_CONCURRENCY)
    done = 0
    forced: list[tuple[AccountFacts, str, str]] = []

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
                if launch.started and facts[account_id].stage != NEW_STAGE:
                    forced.append(
                        (facts[account_id], launch.handle.id, launch.handle.result_run_id or "")
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

    results = list(await asyncio.gather(*(one(a) for a in account_ids)))
    if forced and forced_by is not None:
        await asyncio.to_thread(_audit_forced, engine, forced, forced_by)
    return results
