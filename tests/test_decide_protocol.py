"""The human-decision protocol through the real dev server: the `decide` signal
refuses bad payloads without failing the workflow task (and the workflow keeps
waiting), the `decide` update rejects them with a clear message, and the search
attributes say who is waiting on whom."""

from __future__ import annotations

import pytest
from support.data import (
    CSM,
    HOW_TO,
    HOW_TO_BODY,
    HOW_TO_SUBJECT,
    MANAGER,
    audit,
    customer_messages,
    outbox,
    top_account_ticket,
)
from support.polling import eventually
from support.temporal import (
    current_details,
    decide,
    human_history,
    human_requests,
    start_escalation,
    wait_for_requests,
    workflow_task_failures,
)
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RawValue

from contracts import errors
from contracts import search_attributes as sa
from contracts.escalation import EscalationResult
from contracts.human import DecideResult, HumanRequestView

# A how-to that also carries a strategic phrase (routing.yaml strategic_phrases):
# the workflow opens a copilot approval for the reply AND a task for the CSM.
HOW_TO_STRATEGIC = (
    HOW_TO_SUBJECT,
    HOW_TO_BODY.replace(" Thanks!", " We are restructuring our team around this. Thanks!"),
)
MALFORMED_JSON = RawValue(Payload(metadata={"encoding": b"json/plain"}, data=b"{not json"))
DECISIONS = "'approve', 'reject', 'edit', 'ack', 'done', 'good' or 'bad'"


async def refusals(handle: WorkflowHandle) -> list[dict]:
    return (await human_history(handle))["refusals"]


async def refused_at_least(handle: WorkflowHandle, n: int) -> list[dict]:
    """Wait until `n` signals have been refused; all refusals so far."""
    return await eventually(lambda: refusals(handle), holds=lambda found: len(found) >= n)


async def open_requests(handle: WorkflowHandle) -> dict[str, HumanRequestView]:
    return {v.request_id: v for v in await human_requests(handle)}


async def status(handle: WorkflowHandle) -> WorkflowExecutionStatus | None:
    return (await handle.describe()).status


async def search_attributes_are(handle: WorkflowHandle, pending: int, approvers: list[str]):
    """Visibility is asynchronous: poll describe() until the attributes say this."""

    async def probe():
        attrs = (await handle.describe()).typed_search_attributes
        return attrs.get(sa.PENDING_APPROVALS) == pending and sorted(
            attrs.get(sa.APPROVERS) or []
        ) == sorted(approvers)

    await eventually(probe)


async def test_bad_signals_are_refused_shown_and_the_workflow_keeps_waiting(
    dev_env, db, run_worker
):
    ticket = top_account_ticket(db, *HOW_TO)
    bad_signals = [
        (
            {"request_id": "approval-9", "decision": "approve", "approver": CSM},
            "unknown request 'approval-9' (requests on this workflow: approval-1)",
        ),
        (
            {"request_id": "approval-1", "decision": "approve", "approver": "mallory@evil.test"},
            (
                "mallory@evil.test may not decide 'approval-1'; eligible: jane@acme.test, "
                "maria@acme.test"
            ),
        ),
        (
            {"request_id": "approval-1", "decision": "yolo", "approver": CSM},
            f"malformed payload (decision: Input should be {DECISIONS})",
        ),
        (MALFORMED_JSON, "not valid JSON"),
        (
            {"request_id": "approval-1", "approver": CSM},
            "malformed payload (decision: Field required)",
        ),
    ]
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        [request] = await wait_for_requests(handle)
        assert (request.request_id, request.kind) == ("approval-1", "approval")
        [told] = await eventually(lambda: outbox(db, handle.id))  # the CSM's notification
        await search_attributes_are(handle, pending=1, approvers=[CSM, MANAGER])

        for n, (payload, reason) in enumerate(bad_signals, start=1):
            await handle.signal("decide", payload)
            refused = await refused_at_least(handle, n)
            assert len(refused) == n, refused
            assert refused[-1]["reason"] == reason
            assert await status(handle) == WorkflowExecutionStatus.RUNNING
            still_open = await open_requests(handle)
            assert list(still_open) == ["approval-1"]
            details = await current_details(handle)
            assert "### Refused signals (the workflow kept waiting)" in details
            assert f": {reason} — payload `" in details
            assert "### Waiting for a human (1)" in details
            # A refused signal sends nothing to anyone: only the CSM's notification.
            assert [m.id for m in outbox(db, handle.id)] == [told.id]

        history = await human_history(handle)
        assert history["refusals"][3]["payload"] == "{not json"  # shown as received
        assert '"decision":"yolo"' in history["refusals"][2]["payload"].replace(" ", "")
        assert [r["status"] for r in history["requests"]] == ["open"]
        assert await workflow_task_failures(handle) == []  # no refusal ever failed a task
        assert not customer_messages(db, handle.id)
        assert not [e for e in audit(db, handle.id) if e.actor == "mallory@evil.test"]

        await handle.signal(
            "decide",
            {"request_id": "approval-1", "decision": "approve", "approver": CSM, "note": "fine"},
        )
        outcome: EscalationResult = await handle.result()
        final_history = await human_history(handle)

    assert outcome.outcome == "approved" and outcome.customer_messages_sent == 1
    [reply] = customer_messages(db, handle.id)
    assert reply.body == request.draft
    [approved] = [e for e in audit(db, handle.id) if e.outcome == "approved"]
    assert approved.actor == CSM and approved.detail["note"] == "fine"
    assert len(final_history["refusals"]) == len(bad_signals)
    await search_attributes_are(handle, pending=0, approvers=[])


async def test_a_second_decision_on_a_closed_request_is_refused_while_a_task_still_waits(
    dev_env, db, run_worker
):
    ticket = top_account_ticket(db, *HOW_TO_STRATEGIC)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle, 2)
        waiting = await open_requests(handle)
        assert sorted(waiting) == ["approval-1", "task-1"]
        assert (waiting["approval-1"].kind, waiting["task-1"].kind) == ("approval", "task")
        assert "restructuring our team" in waiting["task-1"].title
        await search_attributes_are(handle, pending=2, approvers=[CSM, MANAGER])

        await handle.signal(
            "decide", {"request_id": "approval-1", "decision": "approve", "approver": MANAGER}
        )
        [reply] = await eventually(lambda: customer_messages(db, handle.id))
        assert reply.body == waiting["approval-1"].draft
        await search_attributes_are(handle, pending=1, approvers=[CSM, MANAGER])

        await handle.signal(
            "decide", {"request_id": "approval-1", "decision": "reject", "approver": CSM}
        )
        [refused] = await refused_at_least(handle, 1)
        assert refused["reason"] == "request 'approval-1' is already closed: approved by " + MANAGER
        assert await status(handle) == WorkflowExecutionStatus.RUNNING
        assert list(await open_requests(handle)) == ["task-1"]
        details = await current_details(handle)
        assert "request 'approval-1' is already closed: approved by maria@acme.test" in details
        assert "- `approval-1`: **approved** by maria@acme.test" in details
        assert "### Waiting for a human (1)" in details
        assert await workflow_task_failures(handle) == []
        # The refused reject changed nothing: the one reply stays the only customer message.
        assert [m.id for m in customer_messages(db, handle.id)] == [reply.id]
        assert not [e for e in audit(db, handle.id) if e.outcome == "rejected"]

        done = await decide(handle, request_id="task-1", decision="done", approver=CSM)
        assert done.status == "done"
        outcome: EscalationResult = await handle.result()

    assert outcome.outcome == "approved" and outcome.customer_messages_sent == 1
    assert {r.request_id: r.status for r in outcome.requests} == {
        "task-1": "done",
        "approval-1": "approved",
    }
    assert len(customer_messages(db, handle.id)) == 1


async def test_update_rejects_each_bad_decision_with_a_clear_message(dev_env, db, run_worker):
    ticket = top_account_ticket(db, *HOW_TO_STRATEGIC)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle, 2)

        async def rejected(**payload) -> str:
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await decide(handle, **payload)
            assert await status(handle) == WorkflowExecutionStatus.RUNNING
            assert sorted(await open_requests(handle)) == ["approval-1", "task-1"]
            assert err.value.cause.type == errors.DECISION_REFUSED  # the validator's own
            # One sentence for a person: no worker stack trace travels with it.
            assert err.value.cause.failure is not None
            assert err.value.cause.failure.stack_trace == ""
            return err.value.cause.message

        assert await rejected(request_id="approval-7", decision="approve", approver=CSM) == (
            "unknown request 'approval-7' (requests on this workflow: task-1, approval-1)"
        )
        assert await rejected(
            request_id="approval-1", decision="approve", approver="mallory@evil.test"
        ) == (
            "mallory@evil.test may not decide 'approval-1'; eligible: jane@acme.test, "
            "maria@acme.test"
        )
        assert await rejected(request_id="approval-1", decision="ack", approver=CSM) == (
            "decision 'ack' does not apply to an approval request; use approve or reject or edit"
        )
        assert await rejected(request_id="task-1", decision="approve", approver=CSM) == (
            "decision 'approve' does not apply to a task request; use done"
        )
        for text in (None, "   "):
            assert (
                await rejected(request_id="approval-1", decision="edit", approver=CSM, text=text)
                == "an edit needs the edited draft in `text`"
            )

        # Payloads that cannot become a DecideInput are refused by the validator
        # with the same reasons the signal records.
        for bad, reason in (
            (
                {"request_id": "approval-1", "decision": "yolo", "approver": CSM},
                f"malformed payload (decision: Input should be {DECISIONS})",
            ),
            (
                {"request_id": "approval-1", "approver": CSM},
                "malformed payload (decision: Field required)",
            ),
            (MALFORMED_JSON, "not valid JSON"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update("decide", bad, result_type=DecideResult)
            assert err.value.cause.message == reason
            assert err.value.cause.type == errors.DECISION_REFUSED
            assert await status(handle) == WorkflowExecutionStatus.RUNNING
            assert sorted(await open_requests(handle)) == ["approval-1", "task-1"]

        # Rejected updates change nothing: nothing sent, nothing decided, not in refusals.
        assert not customer_messages(db, handle.id)
        history = await human_history(handle)
        assert [r["status"] for r in history["requests"]] == ["open", "open"]
        assert await workflow_task_failures(handle) == []

        applied = await decide(
            handle,
            request_id="approval-1",
            decision="edit",
            approver=CSM,
            text="Hi Sam, Reports > Export > CSV. Jane",
        )
        assert applied.status == "edited"
        assert await rejected_closed(handle) == (
            "request 'approval-1' is already closed: edited by jane@acme.test"
        )
        assert list(await open_requests(handle)) == ["task-1"]
        assert await status(handle) == WorkflowExecutionStatus.RUNNING

        await decide(handle, request_id="task-1", decision="done", approver=MANAGER)
        outcome: EscalationResult = await handle.result()

    assert outcome.outcome == "edited"
    assert [m.body for m in customer_messages(db, handle.id)] == [
        "Hi Sam, Reports > Export > CSV. Jane"
    ]


async def rejected_closed(handle: WorkflowHandle) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await decide(handle, request_id="approval-1", decision="approve", approver=MANAGER)
    return err.value.cause.message
