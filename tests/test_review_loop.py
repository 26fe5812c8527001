"""The review loop (issue 14, point 1): a supervised send the policy samples becomes a
`review` request in a workflow of its own (`review/{message key}`), graded good or bad
after the fact, or expired quietly after the policy's window. On the time-skipping
server: the 72-hour window passes in seconds."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from support.cli import cli_env, csops, target
from support.data import CSM, HOW_TO, MANAGER, add_account, add_ticket, audit, outbox
from support.polling import eventually
from support.temporal import (
    current_details,
    decide,
    human_requests,
    replay_and_maybe_record,
    start_escalation,
    start_onboarding,
    ticket_ids,
    wait_for_requests,
)
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.inbox import collect_inbox
from context.db import session
from context.tables import AuditEvent, UsageDaily
from contracts import search_attributes as sa
from contracts.escalation import EscalationResult
from contracts.health import HealthSweepInput
from contracts.human import REVIEW_REASONS, HumanRequest, review_workflow_id
from contracts.ids import watch_id
from policies import evaluate
from policies.loader import PolicyError, load_policies
from workflows.health import HealthSweepWorkflow

ROOT = Path(__file__).parent.parent
RATE = 0.5  # the test's own sample rate, so both sampled and unsampled sends occur
DAY = timedelta(days=1)


@pytest.fixture
def policy_dir(tmp_path) -> Path:
    """A copy of the shipped policies sampling half the supervised sends."""
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy, ignore=shutil.ignore_patterns("*.py", "__*"))
    autonomy = copy / "autonomy.yaml"
    text = autonomy.read_text()
    assert "supervised_sample_rate: 0.2" in text
    autonomy.write_text(
        text.replace("supervised_sample_rate: 0.2", f"supervised_sample_rate: {RATE}")
    )
    assert load_policies(copy).autonomy.supervised_sample_rate == RATE
    return copy


async def reply_to(db, env, tq, account: str, tid: str) -> WorkflowHandle:
    add_ticket(db, tid, account, *HOW_TO)
    handle = await start_escalation(db, env.client, tq, tid)
    result: EscalationResult = await handle.result()
    assert (result.autonomy.value, result.outcome[:4]) == ("supervised", "sent"), result
    return handle


async def reviewed_reply(db, env, tq, account: str, tid: str):
    """A sampled supervised reply, sent: (its escalation, the outbox row, its review
    once open). Nothing waits on a result, so the server's clock stands still."""
    add_ticket(db, tid, account, *HOW_TO)
    sender = await start_escalation(db, env.client, tq, tid)
    [reply] = await eventually(
        lambda: [m for m in outbox(db, sender.id) if m.audience == "customer"],
        what=f"{tid}'s reply in the outbox",
    )
    review = env.client.get_workflow_handle(
        review_workflow_id(reply.idempotency_key), result_type=HumanRequest
    )
    await wait_for_requests(review)
    return sender, reply, review


async def exists(env, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND, err
        return False
    return True


async def test_a_review_is_opened_for_exactly_the_sampled_supervised_sends(
    ts_env, db, run_worker, policy_dir
):
    add_account(db, "acc-rv-small", arr=20_000, top_rank=180)  # replies: supervised
    add_account(db, "acc-rv-mid", arr=80_000, segment="mid_market", stage="new")  # messages
    async with run_worker(ts_env, settings={"policy_dir": policy_dir}) as tq:
        senders = [
            (await reply_to(db, ts_env, tq, "acc-rv-small", tid)).id
            for tid in ticket_ids(2, 2, RATE)
        ]
        onboarding = await start_onboarding(db, ts_env.client, tq, "acc-rv-mid")
        await onboarding.result()  # thirty days: every message of the plan is sent
        senders.append(onboarding.id)

        # Every supervised send the workflows audited, and the key each caller samples on.
        sent = [
            e
            for wid in senders
            for e in audit(db, wid)
            if e.outcome == "sent" and e.autonomy == "supervised"
        ]
        assert {"customer_reply", "onboarding_message"} <= {e.action for e in sent}
        reviewed: dict[str, bool] = {}
        for e in sent:
            message = e.idempotency_key.removesuffix("/sent")
            key = e.workflow_id if e.action == "customer_reply" else message
            reviewed[message] = evaluate.sampled_for_review(RATE, key)
            assert e.detail["sampled_for_review"] == reviewed[message]
        assert True in reviewed.values() and False in reviewed.values()
        flags = {m.idempotency_key: m.sampled_for_review for w in senders for m in outbox(db, w)}
        assert {k: flags[k] for k in reviewed} == reviewed

        # A review workflow for exactly the sampled ones, each audited as opened.
        for message, sampled in reviewed.items():
            assert await exists(ts_env, review_workflow_id(message)) == sampled, message
        # Every review the database knows of (this test's own database).
        with session(db) as s:
            rows = s.exec(select(AuditEvent).where(AuditEvent.outcome == "requested")).all()
        opened = {e.detail["reviewed"]: e for e in rows if e.detail.get("kind") == "review"}
        assert set(opened) == {m for m, s in reviewed.items() if s}
        for message, row in opened.items():
            assert row.detail["kind"] == "review" and row.actor == "agent"
            assert row.detail["approvers"] == [CSM, MANAGER]
            # The review shows the text the outbox holds, exactly.
            [body] = [
                m.body for w in senders for m in outbox(db, w) if m.idempotency_key == message
            ]
            assert row.detail["draft"] == body
    await replay_and_maybe_record(onboarding, "onboarding_messages_reviewed")


async def test_a_review_is_graded_or_expires_quietly(ts_env, db, run_worker, policy_dir, tmp_path):
    add_account(db, "acc-rv-grade", arr=20_000, top_rank=180)
    graded_ticket, quiet_ticket = ticket_ids(2, 0, RATE)
    async with run_worker(ts_env, settings={"policy_dir": policy_dir}) as tq:
        sender, reply, graded = await reviewed_reply(db, ts_env, tq, "acc-rv-grade", graded_ticket)

        # In everyone's inbox: the query shows the sent text and each person's payloads.
        [request] = await human_requests(graded)
        assert (request.kind, request.action, request.autonomy.value) == (
            "review",
            "customer_reply",
            "supervised",
        )
        assert request.draft == reply.body and request.reviewed == reply.idempotency_key
        assert request.eligible_approvers == [CSM, MANAGER]
        assert [p["decision"] for p in request.payloads[MANAGER]] == ["good", "bad"]
        attributes = (await graded.describe()).typed_search_attributes
        assert attributes.get(sa.PENDING_APPROVALS) == 1
        assert attributes.get(sa.APPROVERS) == [CSM, MANAGER]
        assert attributes.get(sa.ACCOUNT_ID) == "acc-rv-grade"
        details = await current_details(graded)
        assert "good (right to send, as it was sent)" in details
        assert "expires quietly" in details

        # A bad grade without a reason is refused, in one sentence.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await decide(graded, request_id="review-1", decision="bad", approver=CSM)
        assert refused.value.cause.message == (
            f"a bad grade needs a `reason`: one of {', '.join(REVIEW_REASONS)}"
        )
        # Graded as a CSM would: `csops decide` sends the decide update.
        run = await csops(
            cli_env(tmp_path, target(ts_env), tq),
            "decide", graded.id, "review-1", "--decision", "bad", "--reason", "wrong_tone",
            "--note", "too curt for this customer", "--approver", CSM, "--identity", CSM,
            "--json",
            cwd=tmp_path,
        )  # fmt: skip
        assert run.json()["status"] == "bad"
        closed = await graded.result()
        assert (closed.status, closed.reason, closed.decided_by) == ("bad", "wrong_tone", CSM)
        [row] = [e for e in audit(db, graded.id) if e.outcome == "bad"]
        assert (row.action, row.actor, row.autonomy, row.policy_rule) == (
            "customer_reply",
            CSM,
            "supervised",
            "under-50k-supervised",
        )
        assert row.detail["kind"] == "review"
        assert row.detail["reason"] == "wrong_tone"
        assert row.detail["note"] == "too curt for this customer"
        assert row.detail["reviewed"] == reply.idempotency_key
        await sender.result()
        await replay_and_maybe_record(graded, "review_graded_bad")
        await replay_and_maybe_record(sender, "escalation_supervised_reviewed")

        # Nobody grades the other one: after the window it expires, and nobody is chased.
        sender, reply, quiet = await reviewed_reply(db, ts_env, tq, "acc-rv-grade", quiet_ticket)
        window = load_policies(policy_dir).autonomy.review.window
        await ts_env.sleep(window)  # the server's clock skips the window
        expired = await quiet.result()
        assert expired.status == "expired" and expired.decided_by is None
        notices = [m.idempotency_key.removeprefix(quiet.id + "/") for m in outbox(db, quiet.id)]
        assert notices == ["review-1/new"]
        rows = {e.outcome: e for e in audit(db, quiet.id)}
        assert set(rows) == {"requested", "expired"}
        # The window counted from the opening (the server's clock: no reminder before).
        assert abs(rows["expired"].at - rows["requested"].at - window) < timedelta(minutes=1)
        assert rows["expired"].actor == "policy" and rows["expired"].detail["kind"] == "review"
        assert rows["expired"].detail["reviewed"] == reply.idempotency_key
        assert rows["expired"].detail["reason"] is None
        await replay_and_maybe_record(quiet, "review_expired")


def test_review_reviewers_are_validated_roles(policy_dir):
    """A reviewer role the policy does not know stops the load, naming the field."""
    autonomy = policy_dir / "autonomy.yaml"
    text = autonomy.read_text()
    autonomy.write_text(text.replace("reviewers: [owner_csm, manager]", "reviewers: [cfo]"))
    with pytest.raises(PolicyError, match=r"review\.reviewers: unknown role\(s\) cfo"):
        load_policies(policy_dir)


async def test_a_review_waits_in_the_inbox_like_every_request(dev_env, db, run_worker, policy_dir):
    add_account(db, "acc-rv-inbox", arr=20_000, top_rank=180)
    [ticket] = ticket_ids(1, 0, RATE)
    async with run_worker(dev_env, settings={"policy_dir": policy_dir}) as tq:
        _, reply, review = await reviewed_reply(db, dev_env, tq, "acc-rv-inbox", ticket)

        def waiting(items) -> list:
            return [i for i in items if i.workflow_id == review.id]

        # Found by the UI's own filter (inbox_query): it counts in CsopsPendingApprovals.
        items = await eventually(
            lambda: collect_inbox(dev_env.client, MANAGER, "acc-rv-inbox"),
            timeout_s=20,
            holds=waiting,
            what="the review in the manager's inbox",
        )
        [item] = waiting(items)
        assert (item.workflow_type, item.request.kind, item.account_id) == (
            "ReviewWorkflow",
            "review",
            "acc-rv-inbox",
        )
        assert item.request.draft == reply.body
        assert item.request.payloads[MANAGER][0] == {
            "request_id": "review-1",
            "decision": "good",
            "approver": MANAGER,
        }

        result = await decide(review, request_id="review-1", decision="good", approver=MANAGER)
        assert result.status == "good"
        assert (await review.result()).status == "good"
        [row] = [e for e in audit(db, review.id) if e.outcome == "good"]
        assert (row.action, row.actor) == ("customer_reply", MANAGER)
        assert row.detail["kind"] == "review" and row.detail["reason"] is None
        await eventually(
            lambda: collect_inbox(dev_env.client, MANAGER, "acc-rv-inbox"),
            timeout_s=20,
            holds=lambda items: not waiting(items),
            what="the graded review gone from the inbox",
        )


async def test_the_watchs_sampled_summary_to_the_csm_is_reviewed(
    dev_env, db, run_worker, policy_dir
):
    """The account watch's messages to the CSM go through the same sending helper: a
    sampled health summary is reviewed, the autonomous alert beside it never."""
    today = datetime.now(UTC).date()
    account = next(  # an account whose summary tonight the policy samples
        a
        for a in (f"w-rv-{uuid.uuid4().hex[:8]}" for _ in range(1000))
        if evaluate.sampled_for_review(RATE, f"{watch_id(a)}/{today}/health_summary")
    )
    add_account(db, account, arr=20_000, top_rank=150)  # under the CSM-task threshold
    with session(db) as s:  # about 40 active users a day, then 4 over the last week
        s.add_all(
            UsageDaily(
                account_id=account,
                day=today + d * DAY,
                feature="active_users",
                value=4 if d >= -6 else 40 + d % 5 - 2,
            )
            for d in range(-70, 1)
        )
        s.commit()
    async with run_worker(dev_env, settings={"policy_dir": policy_dir}) as tq:
        await dev_env.client.execute_workflow(
            HealthSweepWorkflow.run,
            HealthSweepInput(as_of=today),
            id=f"health-sweep-{uuid.uuid4().hex[:8]}",
            task_queue=tq,
        )
        watch = dev_env.client.get_workflow_handle(watch_id(account))
        try:
            alert, summary = await eventually(
                lambda: outbox(db, watch.id),
                timeout_s=30,
                holds=lambda sent: len(sent) >= 2,
                what="the watch's alert and summary",
            )
            assert alert.subject.startswith("[csops] Risk alert") and not alert.sampled_for_review
            assert summary.subject.startswith("[csops] Health summary")
            assert summary.sampled_for_review
            review = dev_env.client.get_workflow_handle(
                review_workflow_id(summary.idempotency_key), result_type=HumanRequest
            )
            [request] = await wait_for_requests(review)
            assert (request.kind, request.action, request.autonomy.value) == (
                "review",
                "health_summary",
                "supervised",
            )
            assert request.draft == summary.body  # the template, rendered the same way
            assert not await exists(dev_env, review_workflow_id(alert.idempotency_key))

            await decide(
                review,
                request_id="review-1",
                decision="bad",
                approver=CSM,
                reason="wrong_facts",
                note="the drop is a holiday",
            )
            assert (await review.result()).reason == "wrong_facts"
            await replay_and_maybe_record(watch, "account_watch_summary_reviewed")
        finally:
            await watch.terminate("test done")  # a watch runs for as long as its account
