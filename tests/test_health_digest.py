"""The weekly health digest on a real dev server: each CSM's message lists exactly
their accounts, worst health first, with the week's movement, the week's risks and
plays and what waits for them, every link naming a workflow the server knows; a
second run in the same week sends nothing; the Schedule runs it and says so."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from pydantic import BaseModel
from sqlalchemy import update
from support.cli import cli_env, csops, target
from support.data import CSM, HOW_TO, add_account, add_ticket, outbox
from support.renewal import q
from support.temporal import replay_and_maybe_record, start_escalation, wait_for_requests
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.records import RecordActivities, write_audit
from context.health import record_health
from context.tables import Account
from contracts.health_digest import HealthDigestInput, HealthDigestResult, iso_week
from contracts.ids import watch_id
from contracts.records import AuditEntry
from csops.schedules import (
    HEALTH_DIGEST_SCHEDULE_ID,
    first_run_report,
    install_health_digest,
    show,
)
from csops.tickets import store_ticket
from policies.loader import load_policies
from workflows.effects import audit
from workflows.health_digest import HealthDigestWorkflow

OTHER_CSM = "omar@acme.test"
RISKS_AND_PLAYS = ("usage_anomaly_alert", "health_summary", "expansion_play",
                   "internal_ticket", "csm_task")  # fmt: skip
LINK = re.compile(r"https?://\S+/workflows/(\S+)")


class Finding(BaseModel):
    action: str
    reason: str


class Findings(BaseModel):
    account_id: str
    findings: list[Finding]


@workflow.defn(name="RecordedFindings")
class RecordedFindings:
    """Stands in for the account's watch (same id, `health/{account_id}`): writes the
    Risk and Growth agents' audit rows through the real audit activity."""

    @workflow.run
    async def run(self, inp: Findings) -> None:
        for n, f in enumerate(inp.findings):
            detail = {"as_of": str(workflow.now().date()), "reason": f.reason}
            await audit(inp.account_id, f"finding-{n}", f.action, "sent", detail=detail)


def book(db, csm: str, day) -> list[tuple[str, int]]:
    """The CSM's accounts and their stored score of `day`, as the digest must order
    them: score ascending, ties by name."""
    return q(
        db,
        "SELECT a.id, h.score FROM account a JOIN healthscore h ON h.account_id = a.id "
        "AND h.as_of = :d WHERE a.owner_csm = :csm ORDER BY h.score, a.name",
        d=str(day),
        csm=csm,
    )


def week_events(db, csm: str, since: datetime, until: datetime) -> list[tuple[str, str, str]]:
    marks = ", ".join(f"'{a}'" for a in RISKS_AND_PLAYS)
    return q(
        db,
        "SELECT e.action, e.account_id, e.workflow_id FROM auditevent e JOIN account a "
        f"ON a.id = e.account_id WHERE a.owner_csm = :csm AND e.action IN ({marks}) "
        "AND e.at >= :since AND e.at < :until ORDER BY e.at, e.id",
        csm=csm,
        since=since.replace(tzinfo=None).isoformat(sep=" "),
        until=until.replace(tzinfo=None).isoformat(sep=" "),
    )


def section(body: str, start: str, end: str) -> str:
    return body.split(start, 1)[1].split(end, 1)[0]


async def test_each_csm_gets_their_book_worst_first_with_the_weeks_risks_and_links(
    tmp_path, dev_env, db, run_worker, executor
):
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    today, week_ago = now.date(), now.date() - timedelta(days=7)
    jane = {f"acc-{tag}-{k}": name for k, name in
            [("a", "Zeta"), ("b", "Alpha"), ("c", "Mid"), ("d", "Quiet"), ("e", "Fresh")]}  # fmt: skip
    omar = {f"acc-{tag}-f": "Other", f"acc-{tag}-g": "Another"}
    # Quiet and Fresh are alike (same stage, no ticket): a tie, broken by name.
    stages = ["adopting", "adopting", "at_risk", "adopting", "adopting", "renewing", "new"]
    for (account, name), stage in zip({**jane, **omar}.items(), stages, strict=True):
        add_account(db, account, arr=400_000, segment="enterprise", top_rank=5, stage=stage,
                    name=f"{name} {tag}")  # fmt: skip
    with db.begin() as conn:
        conn.execute(update(Account).where(Account.id.in_(omar)).values(owner_csm=OTHER_CSM))
    # Tickets this week lower some scores against last week's.
    for account in (f"acc-{tag}-a", f"acc-{tag}-c", f"acc-{tag}-f"):
        store_ticket(db, f"T-{uuid.uuid4().hex[:8]}", account, "Sync is failing",
                     "The nightly sync fails since Monday.", created_at=now - timedelta(days=2))  # fmt: skip
    ticket = f"T-{uuid.uuid4().hex[:8]}"
    add_ticket(db, ticket, f"acc-{tag}-b", *HOW_TO)  # a copilot reply: Jane decides
    policies = load_policies()
    for account in {**jane, **omar}:
        if account != f"acc-{tag}-e":  # new this week: no score a week ago
            record_health(db, account, week_ago, policies)
        record_health(db, account, today, policies)

    async with run_worker(dev_env) as tq:
        findings_tq = f"findings-{tq}"
        async with Worker(
            dev_env.client,
            task_queue=findings_tq,
            workflows=[RecordedFindings],
            activities=[RecordActivities(db).record_audit],
            workflow_runner=UnsandboxedWorkflowRunner(),
            activity_executor=executor,
        ):
            findings = {
                f"acc-{tag}-c": [("usage_anomaly_alert", "active users down 60% in 7 days"),
                                 ("csm_task", "call the champion")],
                f"acc-{tag}-a": [("health_summary", "tickets piling up"),
                                 ("customer_reply", "not a risk or a play")],
                f"acc-{tag}-f": [("internal_ticket", "NPS 3 from the admin")],
            }  # fmt: skip
            for account in {**jane, **omar}:  # every account's watch link must resolve
                await dev_env.client.execute_workflow(
                    RecordedFindings.run,
                    Findings(
                        account_id=account,
                        findings=[
                            Finding(action=a, reason=r) for a, r in findings.get(account, [])
                        ],
                    ),
                    id=watch_id(account),
                    task_queue=findings_tq,
                )
        # Eight days ago: last week's, not in this digest.
        write_audit(
            db,
            AuditEntry(
                idempotency_key=f"old-{tag}",
                at=now - timedelta(days=8),
                workflow_id=watch_id(f"acc-{tag}-d"),
                account_id=f"acc-{tag}-d",
                actor="agent",
                action="expansion_play",
                outcome="sent",
                detail={"reason": "last week's play"},
            ),
        )
        escalation = await start_escalation(db, dev_env.client, tq, ticket)
        [request] = await wait_for_requests(escalation)

        digest = await dev_env.client.start_workflow(
            HealthDigestWorkflow.run,
            HealthDigestInput(),
            id=f"health-digest/{iso_week(today)}/{tag}",
            task_queue=tq,
        )
        first: HealthDigestResult = await digest.result()
        await replay_and_maybe_record(digest, "health_digest")

        messages = {m.to: m for m in outbox(db, digest.id)}
        assert set(messages) == {CSM, OTHER_CSM} and first.recipients == 2
        assert first.week == iso_week(today) and first.as_of == today
        assert first.until - first.since == timedelta(days=7)
        assert first.accounts == len(jane) + len(omar)

        for csm, accounts in ((CSM, jane), (OTHER_CSM, omar)):
            body = messages[csm].body
            listed = section(body, "worst health first.", "New risks and plays")
            lines = re.findall(r"^- (-?\d+) (\w+) · (.+?) · .+ \((acc-[\w-]+)\)$", listed, re.M)
            expected = book(db, csm, today)
            assert [(a, int(s)) for s, _, _, a in lines] == expected
            assert {a for a, _ in expected} == set(accounts)
            before = dict(book(db, csm, week_ago))
            for score, _, movement, account in lines:
                if account in before:
                    assert movement == f"{int(score) - before[account]:+d} from {before[account]}"
                else:
                    assert movement == "new"
                assert f"/workflows/{watch_id(account).replace('/', '%2F')}" in listed

            risks = section(body, "New risks and plays", "Waiting for you")
            shown = re.findall(r"^- \S+ (\w+) \(sent\) · .+ \((acc-[\w-]+)\)", risks, re.M)
            week = week_events(db, csm, first.since, first.until)
            assert shown == [(action, account) for action, account, _ in week]
            assert all(a in RISKS_AND_PLAYS for a, _ in shown) and shown
            assert "last week's play" not in body and "not a risk" not in body

            for link in LINK.findall(body):  # every workflow link names a real workflow
                await dev_env.client.get_workflow_handle(unquote(link)).describe()

        jane_body = messages[CSM].body
        waiting = section(jane_body, "Waiting for you", "All of them in the Temporal UI")
        assert request.title in waiting and escalation.id in waiting
        assert f"/workflows/{escalation.id.replace('/', '%2F')}" in waiting
        assert "CsopsApprovers" in jane_body.rsplit("All of them in the Temporal UI", 1)[1]
        assert escalation.id not in messages[OTHER_CSM].body

        # The same week again: one message per CSM and week, nothing new.
        again: HealthDigestResult = await dev_env.client.execute_workflow(
            HealthDigestWorkflow.run,
            HealthDigestInput(),
            id=f"health-digest/{iso_week(today)}/{tag}-again",
            task_queue=tq,
        )
        assert again.duplicates == again.recipients == 2
        assert outbox(db, f"health-digest/{iso_week(today)}/{tag}-again") == []

        # Through its Schedule, as Monday mornings run it.
        await install_health_digest(dev_env.client, tq, policies.health.digest)
        try:
            triggered = await csops(
                cli_env(tmp_path, target(dev_env), tq),
                "schedule", "trigger", "--health-digest", "--json", cwd=tmp_path,
            )  # fmt: skip
            assert triggered.json() == {"schedule_id": HEALTH_DIGEST_SCHEDULE_ID, "triggered": True}
            said = await first_run_report(dev_env.client, HEALTH_DIGEST_SCHEDULE_ID, 60)
            view = await show(dev_env.client, HEALTH_DIGEST_SCHEDULE_ID)
        finally:
            await dev_env.client.get_schedule_handle(HEALTH_DIGEST_SCHEDULE_ID).delete()
    assert (view["workflow_type"], view["cron"]) == ("HealthDigestWorkflow", ["0 7 * * 1"])
    [run] = view["recent_runs"]
    assert said == f"started {run['workflow_id']}, which {run['outcome']}"
    assert said.startswith("started health-digest-"), said
    assert (
        f", which sent 2 health digests for {first.week} covering {first.accounts} accounts, "
        f"{first.events} risks and plays and " in said
    ), said
    assert said.endswith("(2 already sent that week)"), said
