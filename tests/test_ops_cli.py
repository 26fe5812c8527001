"""Operations from the CLI as a user runs it (real subprocesses, the real dev server):
onboarding only for new accounts, the Schedules in words, JSON timestamps with a
zone, and tickets without a subject."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import select
from support.cli import cli_env, csops, target
from support.data import add_account
from temporalio.service import RPCError

from context.db import session
from context.tables import AuditEvent


def unique_account() -> str:
    return f"acc-{uuid.uuid4().hex[:8]}"


async def test_onboard_refuses_an_account_past_new_and_force_starts_it_audited(
    tmp_path, dev_env, db
):
    env = {**cli_env(tmp_path, target(dev_env), f"tq-{uuid.uuid4()}"), "CSOPS_USER": "ops@x.test"}
    fresh, adopting, live = unique_account(), unique_account(), unique_account()
    add_account(db, fresh, arr=12_000, stage="new")
    add_account(db, adopting, arr=40_000, stage="adopting")
    add_account(db, live, arr=50_000, stage="renewing")

    async def started(account_id: str) -> bool:
        try:
            await dev_env.client.get_workflow_handle(f"onboarding/{account_id}").describe()
        except RPCError:
            return False
        return True

    one = await csops(env, "onboard", adopting, "--json", cwd=tmp_path)
    assert one.code == 2 and one.out == ""
    assert one.err.strip().splitlines() == [
        (
            f"csops: {adopting} is in stage adopting, not new; onboarding starts only for new "
            "accounts (use --force to start it anyway)"
        )
    ]
    # Named with a new account: refused as a whole, so not even the new one starts.
    several = await csops(env, "onboard", fresh, adopting, live, cwd=tmp_path)
    assert several.code == 2 and several.out == ""
    assert several.err.strip().splitlines() == [
        (
            f"csops: {adopting} is in stage adopting and {live} is in stage renewing, not new; "
            "onboarding starts only for new accounts (use --force to start them anyway)"
        )
    ]
    assert [await started(a) for a in (fresh, adopting, live)] == [False, False, False]

    before = datetime.now(UTC)
    forced = await csops(env, "onboard", adopting, fresh, "--force", "--json", cwd=tmp_path)
    after = datetime.now(UTC)
    report = forced.json()
    assert report["summary"] == {"started": 2, "already running": 0, "failed": 0}
    desc = await dev_env.client.get_workflow_handle(f"onboarding/{adopting}").describe()
    assert desc.workflow_type == "OnboardingWorkflow"
    assert await started(fresh) and not await started(live)

    with session(db) as s:
        rows = list(s.exec(select(AuditEvent).where(AuditEvent.action == "onboarding_forced")))
    # Only the account that was past `new` is a forced start.
    assert [(r.account_id, r.workflow_id, r.actor, r.outcome, r.detail) for r in rows] == [
        (
            adopting,
            f"onboarding/{adopting}",
            "ops@x.test",
            "started",
            {"stage": "adopting", "forced_by": "ops@x.test"},
        )
    ]
    assert rows[0].idempotency_key == f"onboarding/{adopting}/{desc.run_id}/onboarding_forced"
    assert before <= rows[0].at.replace(tzinfo=UTC) <= after
    for a in (fresh, adopting):
        await dev_env.client.get_workflow_handle(f"onboarding/{a}").terminate("test done")
