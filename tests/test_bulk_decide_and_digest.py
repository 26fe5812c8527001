"""Bulk `csops decide` across workflows of different kinds, and the CSM digest."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.cli import Run, cli_env, csops, target
from support.data import (
    CSM,
    HOT_TEXT,
    HOW_TO,
    MANAGER,
    add_account,
    add_ticket,
    customer_messages,
    outbox,
)
from support.polling import eventually
from support.temporal import new_ticket_id, start_escalation, wait_for_requests

from adapters.inbox import collect_inbox
from adapters.launcher import start_onboarding
from context.db import session
from context.queries import account_facts
from context.tables import Account
from contracts.digest import DigestInput, DigestResult
from workflows.digest import CsmDigestWorkflow

OTHER_CSM = "omar@acme.test"
ROOT = Path(__file__).resolve().parent.parent


async def test_bulk_approve_decides_every_fitting_request_of_one_approver(
    tmp_path, dev_env, db, run_worker
):
    tag = uuid.uuid4().hex[:6]
    mine, onboarding, theirs = f"acc-{tag}-a", f"acc-{tag}-b", f"acc-{tag}-c"
    add_account(db, mine, arr=400_000, segment="enterprise", top_rank=5)
    add_account(db, onboarding, arr=500_000, segment="enterprise", top_rank=4, stage="new")
    add_account(db, theirs, arr=300_000, segment="enterprise", top_rank=6)
    with session(db) as s:
        other = s.get(Account, theirs)
        other.owner_csm, other.manager = OTHER_CSM, "david@acme.test"
        s.add(other)
        s.commit()
    t_mine, t_theirs = new_ticket_id(), new_ticket_id()
    add_ticket(db, t_mine, mine, *HOW_TO)
    add_ticket(db, t_theirs, theirs, *HOW_TO)

    async with run_worker(dev_env) as tq:
        escalation = await start_escalation(db, dev_env.client, tq, t_mine)
        foreign = await start_escalation(db, dev_env.client, tq, t_theirs)
        with session(db) as s:
            facts = account_facts(s, onboarding)
        plan = (await start_onboarding(dev_env.client, tq, facts)).handle
        await wait_for_requests(escalation)
        await wait_for_requests(foreign)
        await wait_for_requests(plan, count=2)  # kickoff task + welcome approval
        ours = {escalation.id, plan.id}
        await eventually(
            lambda: collect_inbox(dev_env.client, CSM, None),
            timeout_s=20,
            holds=lambda items: ours <= {i.workflow_id for i in items},
        )

        # The digest lists what waits, per person, once a day.
        first: DigestResult = await dev_env.client.execute_workflow(
            CsmDigestWorkflow.run, DigestInput(), id=f"digest-{tag}", task_queue=tq
        )
        [jane_digest] = [m for m in outbox(db, f"digest-{tag}") if m.to == CSM]
        assert escalation.id in jane_digest.body and plan.id in jane_digest.body
        assert foreign.id not in jane_digest.body
        assert f"csops decide {escalation.id} approval-1 --decision approve" in jane_digest.body
        assert "Kickoff call" in jane_digest.body
        [omar_digest] = [m for m in outbox(db, f"digest-{tag}") if m.to == OTHER_CSM]
        assert foreign.id in omar_digest.body and escalation.id not in omar_digest.body
        assert first.recipients >= 3 and first.duplicates == 0  # jane, maria, omar, david...
        again: DigestResult = await dev_env.client.execute_workflow(
            CsmDigestWorkflow.run,
            DigestInput(day=first.day),
            id=f"digest-again-{tag}",
            task_queue=tq,
        )
        assert again.duplicates == again.recipients  # nothing sent twice the same day
        assert outbox(db, f"digest-again-{tag}") == []

        env = cli_env(tmp_path, target(dev_env), task_queue=tq)

        async def decide_all(approver: str, decision: str, *options: str) -> Run:
            """`csops decide --all-for-approver APPROVER --decision DECISION OPTIONS...`"""
            return await csops(
                env,
                "decide",
                "--all-for-approver",
                approver,
                "--decision",
                decision,
                *options,
                cwd=tmp_path,
            )

        def approved_by_jane(workflow_id: str) -> list[dict]:
            """What `--json` reports for one approval-1 that Jane approved."""
            return [
                {
                    "workflow_id": workflow_id,
                    "request_id": "approval-1",
                    "status": "approved",
                    "approver": CSM,
                }
            ]

        # No terminal and no --yes: nothing is decided.
        unconfirmed = await decide_all(CSM, "approve")
        assert unconfirmed.code == 2 and "pass --yes" in unconfirmed.err
        assert len(await wait_for_requests(escalation)) == 1

        run = await decide_all(CSM, "approve", "--account", mine, "--yes", "--json")
        assert run.exited(0), run.err
        assert json.loads(run.out) == approved_by_jane(escalation.id)
        run = await decide_all(CSM, "approve", "--account", onboarding, "--yes", "--json")
        assert json.loads(run.out) == approved_by_jane(plan.id)
        await escalation.result()
        # Only approvals fitted "approve": the kickoff task still waits; the other
        # CSM's approval was never touched.
        assert [r.request_id for r in await wait_for_requests(plan)] == ["task-1"]
        assert [r.request_id for r in await wait_for_requests(foreign)] == ["approval-1"]
        sent = await eventually(lambda: customer_messages(db, plan.id))
        assert [m.idempotency_key.rsplit("/", 2)[-2:] for m in sent] == [["welcome", "message"]]
        assert [m.audience for m in outbox(db, escalation.id)].count("customer") == 1

        nothing = await decide_all(CSM, "ack", "--account", mine, "--yes")
        assert nothing.exited(0) and "nothing open that jane@acme.test may ack" in nothing.out
        bad = await decide_all(MANAGER, "edit", "--yes")
        assert bad.code == 2 and "one request at a time" in bad.err
        for handle in (foreign, plan):
            await handle.terminate("test done")


async def test_the_inbox_puts_the_hot_then_the_overdue_then_the_soonest_due_first(
    tmp_path, dev_env, db, run_worker
):
    """Three real requests: an approval asked under a one-hour deadline, one asked
    under the shipped 24 hours (the worker reads the policy files for each ticket),
    and a hot acknowledgement asked last. Seen two hours later, the first is overdue."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies, ignore=shutil.ignore_patterns("*.py", "__*"))
    routing = policies / "routing.yaml"
    shipped = routing.read_text()
    assert "  deadline_hours: 24\n" in shipped
    tag = uuid.uuid4().hex[:6]
    soon, later, hot = f"acc-{tag}-soon", f"acc-{tag}-later", f"acc-{tag}-hot"
    for rank, account in enumerate((soon, later, hot), start=1):
        add_account(db, account, arr=400_000, segment="enterprise", top_rank=rank)
    tickets = {account: new_ticket_id() for account in (soon, later, hot)}
    add_ticket(db, tickets[soon], soon, *HOW_TO)
    add_ticket(db, tickets[later], later, *HOW_TO)
    add_ticket(db, tickets[hot], hot, "Outage again", HOT_TEXT)

    async with run_worker(dev_env, settings={"policy_dir": policies}) as tq:
        routing.write_text(shipped.replace("  deadline_hours: 24\n", "  deadline_hours: 1\n"))
        handles = {soon: await start_escalation(db, dev_env.client, tq, tickets[soon])}
        await wait_for_requests(handles[soon])
        routing.write_text(shipped)
        for account in (later, hot):
            handles[account] = await start_escalation(db, dev_env.client, tq, tickets[account])
            await wait_for_requests(handles[account])
        ours = {h.id: account for account, h in handles.items()}

        async def inbox(now: datetime | None = None) -> list[tuple[str, str]]:
            items = await collect_inbox(dev_env.client, CSM, now=now)
            return [(ours[i.workflow_id], i.urgency) for i in items if i.workflow_id in ours]

        # Now: the hot one first though asked last, then the sooner deadline.
        assert await eventually(inbox, timeout_s=20, holds=lambda got: len(got) == 3) == [
            (hot, "hot"),
            (soon, "due"),
            (later, "due"),
        ]
        in_two_hours = datetime.now(UTC) + timedelta(hours=2)
        assert await inbox(in_two_hours) == [(hot, "hot"), (soon, "overdue"), (later, "due")]
        [request] = await wait_for_requests(handles[soon])
        assert request.due_at - request.created_at == timedelta(hours=1)
