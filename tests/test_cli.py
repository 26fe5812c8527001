"""The `csops` CLI as a user runs it: real subprocesses against the real dev
server, with the worker running in this test's event loop (so every subprocess
is awaited asynchronously, never with a blocking call)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import typer.main
from sqlalchemy import func
from sqlmodel import select
from support.cli import Run, cli_env, csops, poll_json, target
from support.data import (
    CSM,
    HOT_TEXT,
    HOW_TO,
    HOW_TO_BODY,
    HOW_TO_SUBJECT,
    MANAGER,
    add_account,
    add_ticket,
    customer_messages,
    outbox,
)
from support.polling import eventually
from support.temporal import (
    decide,
    human_requests,
    new_ticket_id,
    start_escalation,
    wait_for_requests,
)
from temporalio.service import RPCError

from adapters.inbox import inbox_query
from context.db import session
from context.tables import (
    Account,
    CallTranscript,
    Contact,
    CrmNote,
    NpsResponse,
    SupportTicket,
    UsageDaily,
)
from contracts.escalation import EscalationResult
from csops.cli import app

COMMANDS = [
    "seed", "ticket", "shadow", "inbox", "decide", "status", "outbox", "policy", "worker",
    "server", "up", "codec-server", "codec-key", "onboard", "renewal", "schedule", "import",
    "health", "investigate", "qbr", "report",
]  # fmt: skip


def count(engine, model) -> int:
    with session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def unique_account() -> str:
    return f"acc-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- no server needed


async def test_help_exits_zero_for_every_command(tmp_path):
    env = cli_env(tmp_path)
    top, *per_command = await asyncio.gather(
        csops(env, "--help", cwd=tmp_path),
        *(csops(env, cmd, "--help", cwd=tmp_path) for cmd in COMMANDS),
    )
    assert top.code == 0, top.err
    # A new command joins this list (and so the checks below).
    assert sorted(COMMANDS) == sorted(typer.main.get_command(app).commands)
    for cmd in COMMANDS:
        assert cmd in top.out, f"`csops --help` does not list {cmd}"
    for cmd, run in zip(COMMANDS, per_command, strict=True):
        assert run.code == 0, f"csops {cmd} --help: exit {run.code}: {run.err}"
        usage = next(line for line in run.out.splitlines() if "Usage:" in line)
        assert f" {cmd} " in usage, (cmd, usage)
    options = dict(zip(COMMANDS, per_command, strict=True))
    assert "--decision" in options["decide"].out and "--approver" in options["decide"].out
    assert "--reset" in options["seed"].out and "--as-of" in options["seed"].out


async def test_seed_summary_matches_the_database_and_refuses_to_overwrite(tmp_path, db):
    env = cli_env(tmp_path)
    summary = (
        await csops(env, "seed", "--accounts", "40", "--seed", "3", "--json", cwd=tmp_path)
    ).json()

    assert summary["accounts"] == 40 == count(db, Account)
    assert summary["seed"] == 3
    assert summary["contacts"] == count(db, Contact) > 40
    assert summary["usage_rows"] == count(db, UsageDaily) > 0
    assert summary["tickets"] == count(db, SupportTicket) > 0
    assert summary["nps"] == count(db, NpsResponse)
    assert summary["notes"] == count(db, CrmNote) > 0
    assert summary["calls"] == count(db, CallTranscript) > 0
    with session(db) as s:
        segments = dict(
            s.exec(select(Account.segment, func.count()).group_by(Account.segment)).all()
        )
        last_usage_day = s.exec(select(func.max(UsageDaily.day))).one()
    assert {k: v for k, v in summary["by_segment"].items() if v} == segments
    assert summary["as_of"] == last_usage_day.isoformat()  # usage ends on the book's day

    again, bad_date = await asyncio.gather(
        csops(env, "seed", "--accounts", "5", "--json", cwd=tmp_path),
        csops(env, "seed", "--as-of", "not-a-date", cwd=tmp_path),
    )
    assert again.code == 2 and again.out == ""
    assert "already holds 40 accounts" in again.err and "--reset" in again.err
    assert count(db, Account) == 40  # the book was left alone
    assert bad_date.code == 2 and bad_date.out == ""
    assert "--as-of 'not-a-date' is not a date (YYYY-MM-DD)" in bad_date.err


async def test_shadow_refuses_bad_input_in_one_sentence(tmp_path, db):
    """Every refusal comes before any server starts: exit 2, one line, no traceback."""
    add_account(db, "acc-1", arr=7_500)
    env = cli_env(tmp_path)
    export = tmp_path / "export.csv"
    export.write_text("id,subject,body,account\nT-1,Export,How do I export?,\n", encoding="utf-8")
    cases = {
        ("shadow", str(tmp_path / "missing.csv"), "--account", "acc-1"): "is not a file",
        ("shadow", str(export), "--account", "acc-nope"): "--account acc-nope: account",
        ("shadow", str(export)): "can be routed (line 2: no account: give --account ID)",
        ("shadow", str(export), "--format", "xml", "--account", "acc-1"): "unknown format",
        ("shadow", str(export), "--map", "subject", "--account", "acc-1"): "is not field=Column",
    }
    runs = await asyncio.gather(*(csops(env, *args, cwd=tmp_path) for args in cases))
    for (args, expected), run in zip(cases.items(), runs, strict=True):
        assert run.exited(2), (args, run.code, run.err)
        assert expected in run.err and "Traceback" not in run.err, (args, run.err)
        assert len(run.err.strip().splitlines()) == 1, run.err
    assert not (tmp_path / ".csops" / "shadow").exists()


async def test_ticket_refuses_a_requester_list_and_an_unusable_id_before_connecting(tmp_path):
    """`--from "a@x, b@evil.test"` once sent the reply to both; an 1,100-character id
    printed a traceback and left a ticket with no workflow. Nothing is stored."""
    env = cli_env(tmp_path)  # no server there: refusals come first
    base = ("ticket", "--account", "acc-1", "--subject", "Export", "--body", "How?")
    cases = {
        (
            "--from",
            "sam@acc-1.test, b@evil.test",
        ): "requester 'sam@acc-1.test, b@evil.test' is not an email address",
        ("--from", "sam@"): "requester 'sam@' is not an email address",
        ("--id", "T-" + "x" * 1100): "a ticket id has 1 to 200 characters (1102 given)",
        ("--id", "T-1\r\nX"): "contains spaces or control characters",
    }
    runs = await asyncio.gather(*(csops(env, *base, *args, cwd=tmp_path) for args in cases))
    for (args, expected), run in zip(cases.items(), runs, strict=True):
        assert run.exited(2), (args, run.code, run.err)
        assert expected in run.err and "Traceback" not in run.err, (args, run.err)
        assert len(run.err.strip().splitlines()) == 1, run.err


async def test_unreachable_temporal_exits_1_with_a_hint(tmp_path):
    run = await csops(cli_env(tmp_path, address="127.0.0.1:1"), "inbox", cwd=tmp_path)
    assert run.exited(1), f"exit {run.code}: {run.err}"
    assert "cannot reach Temporal at 127.0.0.1:1" in run.err
    assert "csops server" in run.err and run.out == ""


# ---------------------------------------------------------------- against the dev server


async def test_ticket_starts_one_escalation_per_ticket_and_rejects_unknown_accounts(
    tmp_path, dev_env, db, run_worker
):
    account = unique_account()
    add_account(db, account, arr=20_000, top_rank=180)
    tid, missing_tid = new_ticket_id(), new_ticket_id()
    async with run_worker(dev_env) as tq:
        env = cli_env(tmp_path, target(dev_env), tq)
        ticket = (
            "ticket",
            "--account",
            account,
            "--subject",
            HOW_TO_SUBJECT,
            "--body",
            HOW_TO_BODY,
            "--id",
            tid,
        )
        first = (await csops(env, *ticket, "--json", cwd=tmp_path)).json()
        assert first == {"ticket_id": tid, "workflow_id": f"escalation/{tid}", "started": True}
        with session(db) as s:
            row = s.get(SupportTicket, tid)
        assert (row.account_id, row.subject, row.body) == (account, *HOW_TO)
        assert row.requester_email == f"sam@{account}.example"  # the primary contact

        handle = dev_env.client.get_workflow_handle(
            first["workflow_id"], result_type=EscalationResult
        )
        outcome: EscalationResult = await handle.result()
        assert outcome.ticket_id == tid and outcome.outcome in ("sent", "sent_sampled")
        run_id = (await handle.describe()).run_id
        query = f"WorkflowId = '{handle.id}'"

        async def listed() -> list:
            return [w async for w in dev_env.client.list_workflows(query)]

        await eventually(listed)  # visible before the second submission

        second, unknown = await asyncio.gather(
            csops(env, *ticket, "--json", cwd=tmp_path),
            csops(
                env,
                "ticket",
                "--account",
                "acc-nope",
                "--subject",
                "x",
                "--body",
                "y",
                "--id",
                missing_tid,
                cwd=tmp_path,
            ),
        )
        assert second.json() == {"ticket_id": tid, "workflow_id": handle.id, "started": False}
        assert (await handle.describe()).run_id == run_id  # nothing new was started
        [execution] = await listed()
        assert execution.run_id == run_id
        assert count(db, SupportTicket) == 1

        assert unknown.exited(2) and unknown.out == ""
        assert "account 'acc-nope' is not in the context database" in unknown.err
        with session(db) as s:
            assert s.get(SupportTicket, missing_tid) is None
        with pytest.raises(RPCError):
            await dev_env.client.get_workflow_handle(f"escalation/{missing_tid}").describe()

        # The text from a file, the helpdesk's priority and tags land on the ticket.
        body_file = tmp_path / "body.txt"
        body_file.write_text("Our production is down for everyone since 9:00!", encoding="utf-8")
        urgent_tid = new_ticket_id()
        urgent = await csops(
            env, "ticket", "--account", account, "--subject", "Down", "--body-file",
            str(body_file), "--priority", "URGENT", "--tag", "prod", "--tag", "vip",
            "--id", urgent_tid, "--json", cwd=tmp_path,
        )  # fmt: skip
        assert urgent.json()["started"] is True
        with session(db) as s:
            row = s.get(SupportTicket, urgent_tid)
        assert (row.body, row.priority, row.tags) == (
            body_file.read_text(),
            "urgent",
            ["prod", "vip"],
        )
        await dev_env.client.get_workflow_handle(f"escalation/{urgent_tid}").terminate("test done")

        # A reused id with other content is refused, never routed as the old ticket.
        reused, bad_priority = await asyncio.gather(
            csops(env, "ticket", "--account", account, "--subject", "Other", "--body", "else",
                  "--id", tid, cwd=tmp_path),
            csops(env, "ticket", "--account", account, "--subject", "x", "--body", "y",
                  "--priority", "soonish", cwd=tmp_path),
        )  # fmt: skip
        assert (
            reused.exited(2) and f"ticket {tid!r} already exists with other content" in reused.err
        )
        assert bad_priority.exited(2) and "--priority 'soonish' is not one of" in bad_priority.err
        with session(db) as s:
            assert s.get(SupportTicket, tid).subject == HOW_TO_SUBJECT


async def test_inbox_status_and_decide_as_a_csm_would(tmp_path, dev_env, db, run_worker):
    big, hot = unique_account(), unique_account()
    add_account(db, big, arr=400_000, segment="enterprise", top_rank=12)
    add_account(db, hot, arr=30_000)
    t_big, t_hot = new_ticket_id(), new_ticket_id()
    add_ticket(db, t_big, big, *HOW_TO)
    add_ticket(db, t_hot, hot, "Outage again", HOT_TEXT)
    async with run_worker(dev_env) as tq:
        env = cli_env(tmp_path, target(dev_env), tq)

        async def cli(*args: str) -> Run:
            return await csops(env, *args, cwd=tmp_path)

        # (`csops ticket` has its own test; these start the same way, in-process.)
        big_handle = await start_escalation(db, dev_env.client, tq, t_big)
        wf_big = big_handle.id
        [approval] = await wait_for_requests(big_handle)
        # The hot ticket comes second, so its ack is the younger request.
        hot_handle = await start_escalation(db, dev_env.client, tq, t_hot)
        wf_hot = hot_handle.id
        await wait_for_requests(hot_handle)

        def ours(items: list) -> list:
            return [i for i in items if i["workflow_id"] in (wf_big, wf_hot)]

        async def both_visible() -> bool:  # cheap, in-process, before the CLI runs
            query = inbox_query(CSM)
            return (
                len({w.id async for w in dev_env.client.list_workflows(query)} & {wf_big, wf_hot})
                == 2
            )

        await eventually(both_visible, timeout_s=20)

        everything, for_nobody, for_big, for_jane, status, refused, invalid = await asyncio.gather(
            poll_json(env, "inbox", "--json", cwd=tmp_path, holds=lambda d: len(ours(d)) == 2),
            cli("inbox", "--approver", "nobody@x.test", "--json"),
            poll_json(
                env, "inbox", "--account", big, "--json", cwd=tmp_path, holds=lambda d: len(d) >= 1
            ),
            cli("inbox", "--approver", CSM),
            cli("status", wf_big, "--json"),
            cli(
                "decide",
                wf_big,
                "approval-1",
                "--decision",
                "approve",
                "--approver",
                "mallory@evil.test",
                "--json",
            ),
            cli("decide", wf_big, "approval-1", "--decision", "maybe", "--approver", CSM),
        )

        # Most urgent first: the hot acknowledgement, though younger, before the approval.
        hot_item, approval_item = ours(everything)
        assert [hot_item["urgency"], approval_item["urgency"]] == ["hot", "due"]
        assert (hot_item["workflow_id"], hot_item["account_id"]) == (wf_hot, hot)
        assert (hot_item["request"]["request_id"], hot_item["request"]["kind"]) == ("ack-1", "ack")
        assert hot_item["request"]["signal_payload"] == {
            "request_id": "ack-1",
            "decision": "ack",
            "approver": CSM,
        }
        assert (approval_item["workflow_id"], approval_item["account_id"]) == (wf_big, big)
        assert approval_item["workflow_type"] == "EscalationWorkflow"
        assert (approval_item["request"]["request_id"], approval_item["request"]["kind"]) == (
            "approval-1",
            "approval",
        )
        assert approval_item["request"]["signal_payload"] == {
            "request_id": "approval-1",
            "decision": "approve",
            "approver": CSM,
        }
        assert approval_item["request"]["draft"] == approval.draft
        assert "export" in approval.draft

        assert for_nobody.json() == []
        assert [(i["workflow_id"], i["request"]["request_id"]) for i in for_big] == [
            (wf_big, "approval-1")
        ]
        # The people's version of `--approver`: both requests, in order, and the UI filter.
        assert for_jane.exited(0), for_jane.err
        lines = for_jane.out.splitlines()
        big_line = lines.index(next(x for x in lines if f" {wf_big}  approval-1" in x))
        hot_line = lines.index(next(x for x in lines if f" {wf_hot}  ack-1" in x))
        assert hot_line < big_line
        assert lines[hot_line].startswith("HOT ") and lines[big_line].startswith("DUE ")
        assert f"[approval/copilot]  account {big}" in lines[big_line]
        assert f"account {hot}" in lines[hot_line]
        assert "may decide: jane@acme.test, maria@acme.test" in lines[big_line + 2]
        assert (
            "UI filter: ExecutionStatus = 'Running' AND CsopsPendingApprovals > 0 "
            "AND CsopsApprovers = 'jane@acme.test'"
        ) in for_jane.out

        waiting = status.json()
        assert waiting["workflow_id"] == wf_big and waiting["type"] == "EscalationWorkflow"
        assert waiting["status"] == "RUNNING" and waiting["closed"] is None
        assert "### Waiting for a human (1)" in waiting["current_details"]
        assert waiting["search_attributes"]["CsopsAccountId"] == big
        assert waiting["search_attributes"]["CsopsPendingApprovals"] == 1
        assert sorted(waiting["search_attributes"]["CsopsApprovers"]) == sorted([CSM, MANAGER])
        assert [(r["request_id"], r["status"]) for r in waiting["human"]["requests"]] == [
            ("approval-1", "open")
        ]

        assert refused.exited(3) and refused.out == ""
        # One sentence, no exception class, no trace; asked for --json, as JSON.
        assert json.loads(refused.err) == {
            "error": f"refused: mallory@evil.test may not decide 'approval-1'; eligible: {CSM}, {MANAGER}",
            "exit_code": 3,
        }
        assert invalid.code == 2 and invalid.out == ""  # refused before any connection
        assert "'approve', 'reject', 'edit', 'ack', 'done', 'good' or 'bad'" in invalid.err
        assert [r.request_id for r in await human_requests(big_handle)] == ["approval-1"]
        assert customer_messages(db, wf_big) == []

        approved = await cli(
            "decide", wf_big, "approval-1", "--decision", "approve", "--approver", CSM, "--json"
        )
        assert approved.json() == {
            "workflow_id": big_handle.id,
            "request_id": "approval-1",
            "status": "approved",
            "approver": CSM,
        }
        await decide(hot_handle, request_id="ack-1", decision="ack", approver=CSM)
        big_outcome: EscalationResult = await big_handle.result()
        hot_outcome: EscalationResult = await hot_handle.result()
        assert (big_outcome.outcome, big_outcome.customer_messages_sent) == ("approved", 1)
        assert hot_outcome.outcome == "acked"
        [reply] = customer_messages(db, wf_big)
        assert reply.body == approval.draft and reply.to == f"sam@{big}.example"
        assert [m.audience for m in outbox(db, wf_hot)] == ["internal"]  # hot: no reply

        done = (await cli("status", wf_big, "--json")).json()
        assert done["status"] == "COMPLETED" and done["closed"]
        [request] = done["human"]["requests"]
        assert (request["status"], request["decided_by"]) == ("approved", CSM)
        assert "### Waiting for a human" not in done["current_details"]


async def test_onboard_all_new_starts_each_new_account_once_with_progress(tmp_path, dev_env, db):
    env = cli_env(tmp_path, target(dev_env), task_queue=f"tq-{uuid.uuid4()}")
    prefix = unique_account()
    for n in range(3):
        add_account(db, f"{prefix}-{n}", arr=10_000 + n, stage="new")
    add_account(db, f"{prefix}-old", arr=90_000, stage="adopting")

    first = await csops(env, "onboard", "--all-new", "--json", cwd=tmp_path)
    assert first.exited(0), first.err
    report = json.loads(first.out)
    assert report["summary"] == {"started": 3, "already running": 0, "failed": 0}
    assert sorted(r["workflow_id"] for r in report["launches"]) == [
        f"onboarding/{prefix}-{n}" for n in range(3)
    ]
    assert sorted(line.split("]")[0] for line in first.err.splitlines()) == ["[1/3", "[2/3", "[3/3"]
    for n in range(3):
        desc = await dev_env.client.get_workflow_handle(f"onboarding/{prefix}-{n}").describe()
        assert await desc.static_summary() == f"Onboarding · {prefix}-{n} Inc (smb)"

    # Again, plus an explicit account and an unknown one: nothing new starts.
    again = await csops(
        env, "onboard", f"{prefix}-0", "nope-404", "--all-new", "--json", cwd=tmp_path
    )
    assert again.code == 1  # one launch failed
    outcomes = {r["account_id"]: r["outcome"] for r in json.loads(again.out)["launches"]}
    assert outcomes == {
        f"{prefix}-0": "already running",
        f"{prefix}-1": "already running",
        f"{prefix}-2": "already running",
        "nope-404": "failed",
    }
    runs = [
        w
        async for w in dev_env.client.list_workflows(
            f"WorkflowId STARTS_WITH 'onboarding/{prefix}'"
        )
    ]
    assert len(runs) == 3
    for w in runs:
        await dev_env.client.get_workflow_handle(w.id).terminate("test done")

    nothing = await csops(env, "onboard", cwd=tmp_path)
    assert nothing.code == 2 and "name accounts or pass --all-new" in nothing.err


async def test_cli_exit_status_survives_interpreter_shutdown(tmp_path, dev_env):
    """A command that talked to Temporal exits with its own status. Without
    main()'s os._exit, the client's Rust threads could abort the finalizing
    interpreter after the output was printed (temporalio/sdk-python#300): 5-27% of
    runs exited 134. Eight runs at once make a regression likely to show."""
    env = cli_env(tmp_path, target(dev_env))
    gate = asyncio.Semaphore(2)

    async def inbox() -> Run:
        async with gate:
            return await csops(env, "inbox", "--account", unique_account(), "--json", cwd=tmp_path)

    for run in await asyncio.gather(*(inbox() for _ in range(8))):
        assert run.exited(0), f"exit {run.code}: {run.err[-500:]}"
        assert json.loads(run.out) == []
