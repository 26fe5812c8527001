"""Signals and updates sent with no input, too many inputs or the wrong shape are
refused and recorded; the workflow task never fails and the workflow keeps going.

Before the guard, `temporal workflow signal --name decide` with no input failed
every workflow task from then on (`decide_signal() missing 1 required positional
argument`), and `pause` with a bad payload was dropped without a trace.
"""

from __future__ import annotations

import pytest
from support.data import CSM, HOW_TO, add_account, add_ticket, top_account_ticket
from support.polling import eventually
from support.temporal import (
    decide,
    human_history,
    new_ticket_id,
    refusal_reasons,
    start_escalation,
    temporal_cli,
    wait_for_requests,
    workflow_task_failures,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from adapters.launcher import start_onboarding
from context.db import session
from context.queries import account_facts
from contracts import search_attributes as sa
from csops.devserver import MAX_SIGNALS_PER_RUN


async def test_decide_with_no_input_or_two_inputs_is_refused_and_the_request_stays_decidable(
    dev_env, db, run_worker
):
    ticket = top_account_ticket(db, *HOW_TO)
    valid = {"request_id": "approval-1", "decision": "reject", "approver": CSM}
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle)

        await temporal_cli(dev_env, "workflow", "signal", "-w", handle.id, "--name", "decide")
        await handle.signal("decide", args=[valid, valid])
        reasons = await refusal_reasons(handle, 2)
        assert reasons == [
            "signal 'decide' takes one JSON object; it was sent 0",
            "signal 'decide' takes one JSON object; it was sent 2",
        ]
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("decide", args=[])
        assert "update 'decide' takes one JSON object; it was sent 0" in str(refused.value.cause)

        # A decision too large to keep: refused, and only a preview of it is kept.
        huge = {**valid, "decision": "edit", "text": "x" * 25_000}  # the server takes it
        await handle.signal("decide", huge)
        reasons = await refusal_reasons(handle, 3)
        assert reasons[2] == "malformed payload (text: String should have at most 20000 characters)"
        history = await human_history(handle)
        assert len(history["refusals"][2]["payload"]) <= 500
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("decide", huge)
        assert "text: String should have at most 20000 characters" in str(refused.value.cause)

        # The request is still open and decidable; the workflow then finishes.
        [request] = await wait_for_requests(handle)
        assert request.request_id == "approval-1"
        result = await decide(handle, **valid)
        assert result.status == "rejected"
        await handle.result()
    assert not await workflow_task_failures(handle)


async def test_onboarding_signals_of_any_shape_are_refused_and_recorded(dev_env, db, run_worker):
    add_account(db, "acc-new", arr=9_000, stage="new")
    with session(db) as s:
        facts = account_facts(s, "acc-new")
    async with run_worker(dev_env) as tq:
        handle = (await start_onboarding(dev_env.client, tq, facts)).handle
        await handle.signal("pause", args=[])
        await handle.signal("pause", {"reason": ["not", "a", "string"]})
        await handle.signal("resume", args=[{}, {}])
        await handle.signal("customer_event", args=[])
        await handle.signal("customer_event", {"note": "no event named"})
        reasons = await refusal_reasons(handle, 5)
        assert reasons[0] == "signal 'pause' takes one JSON object; it was sent 0"
        assert reasons[1].startswith("signal 'pause': malformed payload (reason: ")
        assert reasons[2] == "signal 'resume' takes one JSON object; it was sent 2"
        assert reasons[3] == "signal 'customer_event' takes one JSON object; it was sent 0"
        assert reasons[4] == "signal 'customer_event': malformed payload (event: Field required)"

        # A valid pause still works after all of that.
        await handle.signal("pause", {"reason": "customer on holiday"})

        async def stage():
            return (await handle.describe()).typed_search_attributes.get(sa.STAGE)

        await eventually(stage, holds=lambda s: s == "Paused")
        assert not await workflow_task_failures(handle)
        await handle.terminate("test done")


async def test_a_three_megabyte_ticket_is_routed_not_retried_forever(dev_env, db, run_worker):
    """The whole text stays in the context database; workflows carry a bounded part."""
    add_account(db, "acc-big", arr=7_500)
    ticket = new_ticket_id()
    body = "Hi, how do I export a report to CSV? " + "Here is our log line. " * 140_000
    assert len(body) > 3_000_000
    add_ticket(db, ticket, "acc-big", "Export question with a log attached", body)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        state = await eventually(
            lambda: handle.query("escalation_state"), holds=lambda s: s["routed"], timeout_s=60
        )
        if state["ticket_status"] == "answered":
            await handle.result()  # answered alone: it ends once the outbox confirms
        else:
            await handle.terminate("test done")  # waiting for a human, idle
    assert state["ticket_status"] in ("answered", "awaiting_human")
    assert not await workflow_task_failures(handle)
    completed = [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    sizes = [e.activity_task_completed_event_attributes.result.ByteSize() for e in completed]
    assert max(sizes) < 200_000, sizes


async def test_the_server_refuses_what_would_grow_a_history_without_bound(dev_env, db, run_worker):
    """A 1.9 MB signal once entered the history (27 of them ended the workflow: history
    size limit). The server csops runs refuses a payload over 256 KB before it is
    recorded, and more than 150 signals per run."""
    ticket = top_account_ticket(db, *HOW_TO)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle)
        valid = {"request_id": "approval-1", "decision": "reject", "approver": CSM}
        with pytest.raises(RPCError, match="Blob data size exceeds limit"):
            await handle.signal("decide", {**valid, "note": "x" * 1_900_000})
        bad = {"request_id": "approval-9", "decision": "approve", "approver": CSM}
        for _ in range(MAX_SIGNALS_PER_RUN):
            await handle.signal("decide", bad)
        with pytest.raises(RPCError, match="(?i)signal"):
            await handle.signal("decide", bad)
        # The flood is refused and bounded; the workflow still answers its decider.
        history = await eventually(
            lambda: human_history(handle), holds=lambda h: len(h["refusals"]) == 20
        )
        assert all("unknown request 'approval-9'" in r["reason"] for r in history["refusals"])
        result = await decide(handle, request_id="approval-1", decision="reject", approver=CSM)
        assert result.status == "rejected"
        await handle.result()
    assert not await workflow_task_failures(handle)
