"""Who decides, proven: the identity Temporal records on a `decide` signal or update
is compared with the payload's approver (a mismatch is refused and audited), and an
approval is checked again against the policy in force when the action runs.

Before: a signal and an update sent as mallory@evil.test with "approver":
"jane@acme.test" were both applied (Temporal's history showed mallory, the audit
jane), and with `customer_reply` moved to off_limits, approving an older request
still sent the reply.
"""

from __future__ import annotations

import shutil

import pytest
from support.cli import target
from support.data import (
    CSM,
    HOW_TO,
    MANAGER,
    add_account,
    audit,
    customer_messages,
    top_account_ticket,
)
from support.polling import eventually
from support.temporal import (
    decide,
    onboarding_plan,
    refusal_reasons,
    start_escalation,
    start_onboarding,
    temporal_cli,
    wait_for_requests,
)
from temporalio.client import Client, WorkflowUpdateFailedError

from adapters.temporal_client import connect
from contracts.escalation import EscalationResult
from policies.loader import DEFAULT_POLICY_DIR, load_policies

MALLORY = "mallory@evil.test"
REPLY_RULES = "  customer_reply:\n    work_type: resolution\n    default: copilot\n    rules:\n"
IMPERSONATION = f"sent by {MALLORY}, not by {CSM}: a decision is made in one's own name only"


async def as_person(env, identity: str) -> Client:
    """A client whose signals and updates Temporal records as sent by `identity`."""
    return await connect(target(env), env.client.namespace, (), identity=identity)


async def test_a_decision_sent_in_someone_elses_name_is_refused_and_audited(
    dev_env, db, run_worker
):
    ticket = top_account_ticket(db, *HOW_TO)
    approve_as_jane = {"request_id": "approval-1", "decision": "approve", "approver": CSM}
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle)
        mallory = (await as_person(dev_env, MALLORY)).get_workflow_handle(handle.id)

        # The signal, from the SDK and from the real `temporal` CLI, and the update.
        await mallory.signal("decide", approve_as_jane)
        assert await refusal_reasons(handle, 1) == [IMPERSONATION]
        await temporal_cli(
            dev_env, "workflow", "signal", "-w", handle.id, "--name", "decide",
            "--identity", MALLORY, "--input", '{"request_id": "approval-1", '
            f'"decision": "approve", "approver": "{CSM}"}}',
        )  # fmt: skip
        assert await refusal_reasons(handle, 2) == [IMPERSONATION] * 2
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await decide(mallory, **approve_as_jane)
        assert refused.value.cause.message == IMPERSONATION
        assert [r.request_id for r in await wait_for_requests(handle)] == ["approval-1"]
        assert not customer_messages(db, handle.id)

        # Jane herself, under her own identity: applied, and the audit says it was her.
        jane = (await as_person(dev_env, CSM)).get_workflow_handle(handle.id)
        await jane.signal("decide", {**approve_as_jane, "approver": CSM.upper()})
        result: EscalationResult = await handle.result()

    assert result.outcome == "approved" and len(customer_messages(db, handle.id)) == 1
    rows = audit(db, handle.id)
    attempts = [e for e in rows if e.outcome == "refused"]
    assert len(attempts) == 3
    assert {e.actor for e in attempts} == {MALLORY}
    assert all(
        e.detail["approver"] == CSM and e.detail["reason"] == IMPERSONATION for e in attempts
    )
    [approved] = [e for e in rows if e.outcome == "approved"]
    assert approved.actor == CSM.upper()
    assert approved.detail["identity"] == CSM and approved.detail["identity_verified"] is True


async def test_an_identity_that_is_not_an_address_decides_unverified(dev_env, db, run_worker):
    """The SDK's `pid@host` (and the UI without login) prove nothing about the person:
    the decision stands, and the audit records it as unverified."""
    ticket = top_account_ticket(db, *HOW_TO)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle)
        anonymous = (await as_person(dev_env, "4242@build-host")).get_workflow_handle(handle.id)
        await decide(anonymous, request_id="approval-1", decision="reject", approver=MANAGER)
        assert (await handle.result()).outcome == "rejected"
    [rejected] = [e for e in audit(db, handle.id) if e.outcome == "rejected"]
    assert rejected.actor == MANAGER
    assert rejected.detail["identity"] == "4242@build-host"
    assert rejected.detail["identity_verified"] is False


@pytest.fixture
def live_policies(tmp_path, monkeypatch):
    """A copy of the shipped policies the worker reads, for the test to change."""
    live = tmp_path / "live"
    shutil.copytree(DEFAULT_POLICY_DIR, live, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setenv("CSOPS_POLICY_DIR", str(live))
    return live


def edit_policy(live, name: str, old: str, new: str) -> str:
    """Change one policy file; the new policy's version."""
    path = live / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    return load_policies(live).version


async def test_an_approval_the_current_policy_no_longer_allows_is_not_sent(
    dev_env, db, run_worker, live_policies
):
    ticket = top_account_ticket(db, *HOW_TO)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle)
        version = edit_policy(
            live_policies,
            "autonomy.yaml",
            REPLY_RULES,
            REPLY_RULES + "      - {name: replies-are-human-work, when: {}, level: off_limits}\n",
        )
        await decide(handle, request_id="approval-1", decision="approve", approver=CSM)
        # Not sent: the agent may no longer act; the ticket is a person's task now.
        [task] = await eventually(
            lambda: wait_for_requests(handle), holds=lambda r: r[0].kind == "task"
        )
        assert task.request_id == "task-1" and "the approved reply was not sent" in task.title
        assert not customer_messages(db, handle.id)
        await decide(handle, request_id="task-1", decision="done", approver=CSM)
        result: EscalationResult = await handle.result()

    assert result.outcome == "done" and result.customer_messages_sent == 0
    [superseded] = [e for e in audit(db, handle.id) if e.outcome == "superseded"]
    assert superseded.actor == "policy" and superseded.policy_version == version
    assert superseded.detail["decided_by"] == CSM
    assert superseded.detail["reason"].startswith(
        f"customer_reply is off-limits under policy {version} (rule replies-are-human-work)"
    )
    [approval] = [r for r in result.requests if r.request_id == "approval-1"]
    assert approval.status == "superseded" and approval.superseded == superseded.detail["reason"]


async def test_an_approver_no_longer_eligible_is_asked_again(
    dev_env, db, run_worker, live_policies
):
    """The policy now names the deal desk alone: Maria's approval is superseded and
    the deal desk is asked; their approval sends the reply."""
    ticket = top_account_ticket(db, *HOW_TO)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle)
        edit_policy(
            live_policies,
            "autonomy.yaml",
            REPLY_RULES,
            REPLY_RULES.replace("    rules:", "    approvers: [deal_desk]\n    rules:"),
        )
        await decide(handle, request_id="approval-1", decision="approve", approver=MANAGER)
        [again] = await eventually(
            lambda: wait_for_requests(handle), holds=lambda r: r[0].request_id == "approval-2"
        )
        assert again.eligible_approvers == ["deal-desk@acme.test"]
        assert list(again.payloads) == ["deal-desk@acme.test"]
        assert not customer_messages(db, handle.id)
        await decide(
            handle, request_id="approval-2", decision="approve", approver="deal-desk@acme.test"
        )
        result: EscalationResult = await handle.result()

    assert result.outcome == "approved" and len(customer_messages(db, handle.id)) == 1
    [superseded] = [e for e in audit(db, handle.id) if e.outcome == "superseded"]
    assert superseded.detail["reason"].startswith(f"{MANAGER} may no longer decide customer_reply")
    assert superseded.detail["reason"].endswith("eligible now: deal-desk@acme.test")


async def test_an_onboarding_message_approved_before_it_became_off_limits_is_not_sent(
    ts_env, db, run_worker, live_policies
):
    add_account(db, "acc-ent-recheck", arr=650_000, segment="enterprise", top_rank=2, stage="new")
    async with run_worker(ts_env) as tq:
        handle = await start_onboarding(db, ts_env.client, tq, "acc-ent-recheck")
        requests = {r.request_id: r for r in await wait_for_requests(handle, count=2)}
        assert requests["approval-1"].action == "onboarding_message"
        version = edit_policy(
            live_policies,
            "autonomy.yaml",
            "        when: {segment_in: [enterprise]}\n        level: copilot\n",
            "        when: {segment_in: [enterprise]}\n        level: off_limits\n",
        )
        await decide(handle, request_id="approval-1", decision="approve", approver=CSM)
        welcome = await eventually(
            lambda: onboarding_plan(handle),
            holds=lambda plan: (plan["welcome"].message or "").startswith("not sent"),
        )
        # The rest of the plan is not this test's business; an open workflow would
        # hold back the time-skipping server for the tests after it.
        await handle.terminate()

    assert welcome["welcome"].message == (
        "not sent: onboarding_message is off-limits under policy "
        f"{version} (rule enterprise-onboarding-is-human-led); it was approved under policy "
        f"{load_policies(DEFAULT_POLICY_DIR).version}"
    )
    assert not customer_messages(db, handle.id)
    [superseded] = [e for e in audit(db, handle.id) if e.outcome == "superseded"]
    assert (superseded.action, superseded.detail["decided_by"]) == ("onboarding_message", CSM)
