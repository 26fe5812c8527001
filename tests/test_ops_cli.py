"""Operations from the CLI as a user runs it (real subprocesses, the real dev server):
onboarding only for new accounts, the Schedules in words, JSON timestamps with a
zone, and tickets without a subject."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import func, select
from support.cli import cli_env, csops, target
from support.data import HOT_TEXT, HOW_TO_BODY, add_account, outbox
from support.polling import eventually
from support.temporal import wait_for_requests
from temporalio.service import RPCError

from context.db import session
from context.tables import Account, AuditEvent
from contracts.sweep import SweepReport
from csops.demo_book import generate_book
from csops.schedules import (
    DIGEST_SCHEDULE_ID,
    SCHEDULE_ID,
    first_run_report,
    install,
    install_digest,
)
from policies.loader import load_policies


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
    assert json.loads(one.err) == {  # asked for --json: the error too
        "error": (
            f"{adopting} is in stage adopting, not new; onboarding starts only for new "
            "accounts (use --force to start it anyway)"
        ),
        "exit_code": 2,
    }
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


TIMESTAMP_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ONE_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?[+-]\d{2}:\d{2}")


def timestamps(data) -> list[str]:
    """Every string value in a JSON document that starts like a date and time."""
    if isinstance(data, dict):
        return [t for v in data.values() for t in timestamps(v)]
    if isinstance(data, list):
        return [t for v in data for t in timestamps(v)]
    return [data] if isinstance(data, str) and TIMESTAMP_LIKE.match(data) else []


def renewals_in_window(db, start: date, end: date) -> int:
    with session(db) as s:
        return s.exec(
            select(func.count())
            .select_from(Account)
            .where(Account.renewal_date >= start, Account.renewal_date <= end)
        ).one()


async def test_schedules_in_words_first_run_report_and_json_timestamps(
    tmp_path, dev_env, db, run_worker
):
    generate_book(db, accounts=20, seed=11, as_of=datetime.now(UTC).date())
    window = load_policies(None).renewal.window_days
    sweep = dev_env.client.get_schedule_handle(SCHEDULE_ID)
    digest = dev_env.client.get_schedule_handle(DIGEST_SCHEDULE_ID)
    async with run_worker(dev_env) as tq:
        env = cli_env(tmp_path, target(dev_env), tq)
        try:
            await install(dev_env.client, tq, "0 2 * * *", "UTC", 12)
            # The digest's queue has no worker: its run stays running.
            await install_digest(dev_env.client, f"{tq}-nobody", "0 7 * * 1-5", "UTC")
            none_yet = await first_run_report(dev_env.client, DIGEST_SCHEDULE_ID, 0)
            first_due = (await digest.describe()).info.next_action_times[0]
            assert none_yet == f"no run yet; the first is due {first_due:%Y-%m-%d %H:%M} UTC"

            await sweep.trigger()
            said = await first_run_report(dev_env.client, SCHEDULE_ID, 60)
            [run] = (await sweep.describe()).info.recent_actions
            sweep_id = run.action.workflow_id
            report: SweepReport = await dev_env.client.get_workflow_handle(
                sweep_id, result_type=SweepReport
            ).result()
            started = renewals_in_window(db, report.as_of, report.as_of + timedelta(days=window))
            assert started > 0 and report.counts.skipped == report.counts.failed == 0
            outcome = (
                f"started {started} renewal package{'s' if started > 1 else ''} for renewals "
                f"from {report.as_of} to {report.as_of + timedelta(days=window)}"
            )
            assert said == f"started {sweep_id}, which {outcome}"

            await digest.trigger()
            digest_said = await first_run_report(dev_env.client, DIGEST_SCHEDULE_ID, 1)
            [digest_run] = (await digest.describe()).info.recent_actions
            digest_id = digest_run.action.workflow_id
            assert digest_said == (
                f"started {digest_id}, still running after 1 s "
                "(follow it with `csops schedule show`)"
            )
            await digest.pause(note="holiday week")

            shown, human = await asyncio.gather(
                csops(env, "schedule", "show", "--json", cwd=tmp_path),
                csops(env, "schedule", "show", cwd=tmp_path),
            )
            data = shown.json()
            assert [d["schedule_id"] for d in data] == [SCHEDULE_ID, DIGEST_SCHEDULE_ID]
            s, d = data
            assert (s["cron"], s["when"], s["timezone"], s["paused"]) == (
                ["0 2 * * *"],
                ["At 02:00"],
                "UTC",
                False,
            )
            assert s["recent_runs"] == [
                {
                    "at": run.started_at.isoformat(),
                    "workflow_id": sweep_id,
                    "status": "COMPLETED",
                    "outcome": outcome,
                }
            ]
            assert [datetime.fromisoformat(t).hour for t in s["next_runs"]] == [2, 2, 2]
            assert (d["when"], d["paused"], d["note"]) == (
                ["At 07:00, Monday through Friday"],
                True,
                "holiday week",
            )
            assert [(r["workflow_id"], r["status"], r["outcome"]) for r in d["recent_runs"]] == [
                (digest_id, "RUNNING", None)
            ]
            assert d["running"] == [digest_id]

            assert human.exited(0), human.err
            lines = human.out.splitlines()
            assert not human.out.lstrip().startswith(("[", "{"))
            assert lines[0] == f"{SCHEDULE_ID}: At 02:00 (0 2 * * *), UTC; active"
            assert lines[1].startswith("  next runs: ") and lines[1].count("02:00 UTC") == 3
            assert lines[3] == (
                f"    {run.started_at:%Y-%m-%d %H:%M} UTC  {sweep_id}  completed: {outcome}"
            )
            assert (
                f"{DIGEST_SCHEDULE_ID}: At 07:00, Monday through Friday (0 7 * * 1-5), UTC; "
                "paused: holiday week"
            ) in lines
            assert "  next runs (none starts while paused): " in human.out
            assert f"{digest_run.started_at:%Y-%m-%d %H:%M} UTC  {digest_id}  running" in human.out

            # Every timestamp of every command's JSON: ISO 8601 with a zone, one form.
            packages = [
                w.id
                async for w in dev_env.client.list_workflows(
                    f"WorkflowType = 'RenewalPackageWorkflow' AND TaskQueue = '{tq}'"
                )
            ]
            runs = await asyncio.gather(
                csops(env, "status", sweep_id, "--json", cwd=tmp_path),
                csops(env, "status", packages[0], "--json", cwd=tmp_path),
                csops(env, "outbox", "--json", cwd=tmp_path),
                csops(env, "inbox", "--json", cwd=tmp_path),
            )
            outputs = {"schedule show": data, **{f"run {n}": r.json() for n, r in enumerate(runs)}}
            for name, output in outputs.items():
                found = timestamps(output)
                assert found, f"{name}: no timestamp to check"
                for value in found:
                    assert ONE_FORM.fullmatch(value), f"{name}: {value!r}"
                    assert datetime.fromisoformat(value).tzinfo is not None
        finally:
            await sweep.delete()
            await digest.delete()
            async for w in dev_env.client.list_workflows(
                f"TaskQueue IN ('{tq}', '{tq}-nobody') AND ExecutionStatus = 'Running'"
            ):
                await dev_env.client.get_workflow_handle(w.id).terminate("test done")


async def test_a_ticket_without_a_subject_is_accepted_and_no_message_quotes_an_empty_one(
    tmp_path, dev_env, db, run_worker
):
    small, big, angry = unique_account(), unique_account(), unique_account()
    add_account(db, small, arr=20_000, top_rank=180)  # answered alone
    add_account(db, big, arr=400_000, segment="enterprise", top_rank=12)  # a CSM approves
    add_account(db, angry, arr=30_000)  # hot: the CSM is notified
    async with run_worker(dev_env) as tq:
        env = cli_env(tmp_path, target(dev_env), tq)
        tickets = {}
        for account, subject, body in (
            (small, "", HOW_TO_BODY),
            (big, "   ", HOW_TO_BODY),
            (angry, "", HOT_TEXT),
        ):
            run = await csops(
                env, "ticket", "--account", account, "--subject", subject, "--body", body,
                "--json", cwd=tmp_path,
            )  # fmt: skip
            tickets[account] = run.json()["ticket_id"]
        handles = {
            a: dev_env.client.get_workflow_handle(f"escalation/{t}") for a, t in tickets.items()
        }
        await handles[small].result()
        await wait_for_requests(handles[big])
        await wait_for_requests(handles[angry])
        wanted = {small: "customer", big: "internal", angry: "internal"}
        messages = await eventually(
            lambda: {a: outbox(db, h.id) for a, h in handles.items()},
            holds=lambda m: all(any(x.audience == wanted[a] for x in m[a]) for a in m),
            what="each ticket's first message",
        )
        for waiting in (big, angry):
            await handles[waiting].terminate("test done")

    [reply] = messages[small]
    assert reply.subject == f"Your support request {tickets[small]}"
    [hot] = messages[angry]
    assert hot.subject == f"[csops] HOT {angry} Inc: (no subject)"
    assert f"Ticket {tickets[angry]} (no subject)\n{HOT_TEXT}" in hot.body
    for m in [m for rows in messages.values() for m in rows]:
        assert '""' not in m.subject + m.body, m.subject
        assert m.subject == m.subject.strip() and not m.subject.endswith(":"), m.subject
