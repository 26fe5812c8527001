"""Escalation routing through the real dev server (and the time-skipping server
for the ack ladder)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from support.data import (
    CSM,
    HOT_TEXT,
    HOW_TO,
    MANAGER,
    ON_CALL,
    add_account,
    add_ticket,
    audit,
    customer_messages,
    help_article,
    outbox,
    ticket_row,
)
from support.polling import eventually
from support.temporal import (
    current_details,
    decide,
    local_activity,
    new_ticket_id,
    replay_and_maybe_record,
    start_escalation,
    wait_for_requests,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from adapters.knowledge import article_answer
from contracts.escalation import EscalationResult


def about(actual: timedelta, expected: timedelta) -> bool:
    """Timers fire at their time; the task that runs then is a few ms later."""
    return abs(actual - expected) < timedelta(seconds=2)


async def test_hot_ticket_notifies_csm_before_waiting_and_ack_closes_it(dev_env, db, run_worker):
    add_account(db, "acc-hot", arr=30_000)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-hot", "Outage again", HOT_TEXT)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        [request] = await wait_for_requests(handle)

        assert request.kind == "ack" and request.request_id == "ack-1"
        assert set(request.eligible_approvers) == {CSM, ON_CALL, MANAGER}
        assert request.signal_payload == {"request_id": "ack-1", "decision": "ack", "approver": CSM}
        # The request shows as soon as it opens; the local activity that queues the
        # notification may still be running when the query answers.
        [notification] = await eventually(lambda: outbox(db, handle.id))
        assert notification.audience == "internal"
        assert notification.to.split(",") == [CSM, ON_CALL]
        assert "HOT" in notification.subject and HOT_TEXT in notification.body
        assert f"csops decide {handle.id} ack-1 --decision ack" in notification.body

        # Nothing stood between submission and the notification: the first timer
        # (the ack deadline) starts only after the notification was queued (one local
        # activity with the status and audit rows, in the workflow task that had the
        # assessment).
        timer = EventType.EVENT_TYPE_TIMER_STARTED

        async def history() -> list:
            return [e async for e in handle.fetch_history_events()]

        # The ladder's first timer follows the request by a task.
        events = await eventually(
            history, holds=lambda found: any(e.event_type == timer for e in found)
        )
        first_timer = next(i for i, e in enumerate(events) if e.event_type == timer)
        [notify_done] = [
            i for i, e in enumerate(events) if local_activity(e) == "record_hot_ticket"
        ]
        assert notify_done < first_timer
        assert not any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                       and e.activity_task_scheduled_event_attributes.activity_type.name
                       == "send_message" for e in events)  # fmt: skip

        result = await decide(handle, request_id="ack-1", decision="ack", approver=CSM)
        assert result.status == "acked"
        outcome: EscalationResult = await handle.result()

    assert outcome.hot and outcome.outcome == "acked"
    assert outcome.customer_messages_sent == 0
    assert [m.audience for m in outbox(db, handle.id)] == ["internal"]
    acked = [e for e in audit(db, handle.id) if e.outcome == "acked"]
    assert len(acked) == 1 and acked[0].actor == CSM and acked[0].policy_version
    await replay_and_maybe_record(handle, "escalation_hot_acked")


async def test_unacknowledged_hot_ticket_reminds_then_escalates_then_expires(
    ts_env, db, run_worker
):
    add_account(db, "acc-quiet", arr=120_000, segment="mid_market")
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-quiet", "We are done", HOT_TEXT)
    async with run_worker(ts_env) as tq:
        handle = await start_escalation(db, ts_env.client, tq, ticket)
        outcome: EscalationResult = await handle.result()  # time skips through the ladder

    assert outcome.outcome == "expired" and outcome.customer_messages_sent == 0
    messages = outbox(db, handle.id)
    assert [m.idempotency_key.split("/", 2)[-1] for m in messages] == [
        "hot/notify",
        "ack-1/reminder",
        "ack-1/escalation",
    ]
    events = audit(db, handle.id)
    [requested] = [e for e in events if e.outcome == "requested"]
    start = requested.at  # the ladder counts from the request's creation
    notify, reminder, escalation = messages
    assert notify.created_at <= start
    # routing.yaml: reminder after 15 minutes, manager after 30, expiry after 240.
    assert about(reminder.created_at - start, timedelta(minutes=15))
    assert reminder.to.split(",") == [CSM, ON_CALL, MANAGER]
    assert about(escalation.created_at - start, timedelta(minutes=30))
    assert escalation.to == MANAGER
    assert all(m.audience == "internal" for m in messages)
    [expired] = [e for e in events if e.outcome == "expired"]
    assert about(expired.at - start, timedelta(minutes=240)) and expired.actor == "policy"
    await replay_and_maybe_record(handle, "escalation_hot_expired")


async def test_how_to_at_small_account_is_sent_without_a_human(dev_env, db, run_worker):
    add_account(db, "acc-20k", arr=20_000, top_rank=180)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-20k", *HOW_TO)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        outcome: EscalationResult = await handle.result()

    assert not outcome.hot and outcome.requests == []
    assert outcome.action == "customer_reply" and outcome.autonomy.value == "supervised"
    assert outcome.outcome in ("sent", "sent_sampled")
    [reply] = outbox(db, handle.id)
    assert reply.audience == "customer" and reply.to == "sam@acc-20k.example"
    # Grounded: the answer is the help-centre article's own, and the article is cited.
    article = help_article(db, "export-report-csv-en")
    assert reply.subject == f"Your support request {ticket}"
    assert article_answer(article.body) in reply.body
    assert f"Source: {article.title} ({article.url})" in reply.body
    assert reply.sampled_for_review == (outcome.outcome == "sent_sampled")
    assert [s.source_id for s in outcome.sources] == ["article:export-report-csv-en"]
    [sent] = [e for e in audit(db, handle.id) if e.action == "customer_reply"]
    assert (sent.autonomy, sent.policy_rule, sent.actor) == (
        "supervised",
        "under-50k-supervised",
        "agent",
    )
    assert sent.detail["sources"] == [f"{article.title} ({article.url})"]
    stored = ticket_row(db, ticket)
    assert (stored.status, stored.answer_source) == ("answered", "article:export-report-csv-en")
    assert stored.answer == reply.body and outcome.ticket_status == "answered"
    await replay_and_maybe_record(handle, "escalation_supervised_sent")


@pytest.mark.parametrize(
    "decision, text, expected_outcome, expected_bodies",
    [
        ("approve", None, "approved", ["draft"]),
        ("reject", None, "rejected", []),
        (
            "edit",
            "Hi Sam, go to Reports > Export. Jane",
            "edited",
            ["Hi Sam, go to Reports > Export. Jane"],
        ),
    ],
)
async def test_same_text_at_large_account_waits_for_copilot_approval(
    dev_env, db, run_worker, decision, text, expected_outcome, expected_bodies
):
    add_account(db, "acc-400k", arr=400_000, segment="enterprise", top_rank=12)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-400k", *HOW_TO)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        [request] = await wait_for_requests(handle)
        assert (request.kind, request.autonomy.value) == ("approval", "copilot")
        assert request.draft and "export" in request.draft
        [told] = await eventually(lambda: outbox(db, handle.id))  # the CSM is told
        assert told.audience == "internal" and told.to == f"{CSM},{MANAGER}"
        details = await current_details(handle)
        assert "### Waiting for a human (1)" in details
        assert "Who may decide: jane@acme.test, maria@acme.test" in details
        # Each person who may decide is offered a payload with their own address:
        # in the current details, in the query and in the message that tells them.
        for person in (CSM, MANAGER):
            payload = {"request_id": "approval-1", "decision": "approve", "approver": person}
            shown = f"**{person}** · approve\n\n```json\n{json.dumps(payload, indent=2)}\n```"
            assert shown in details
            assert json.dumps(payload) in told.body
            assert f"approval-1 --decision approve --approver {person}" in told.body
            assert request.payloads[person] == [
                payload,
                {**payload, "decision": "reject"},
                {**payload, "decision": "edit", "text": request.draft},
            ]

        await decide(
            handle,
            request_id=request.request_id,
            decision=decision,
            approver=MANAGER,
            text=text,
            note="checked",
        )
        outcome: EscalationResult = await handle.result()

    assert outcome.outcome == expected_outcome
    customer = customer_messages(db, handle.id)
    bodies = [request.draft if b == "draft" else b for b in expected_bodies]
    assert [m.body for m in customer] == bodies
    assert outcome.customer_messages_sent == len(bodies)
    [decided] = [e for e in audit(db, handle.id) if e.outcome == expected_outcome]
    assert decided.actor == MANAGER and decided.autonomy == "copilot"
    assert decided.policy_rule == "top-50-accounts-human-decides"
    assert decided.detail["note"] == "checked"
    await replay_and_maybe_record(handle, f"escalation_copilot_{expected_outcome}")


async def test_update_decide_rejects_an_ineligible_approver(dev_env, db, run_worker):
    add_account(db, "acc-big", arr=400_000, segment="enterprise", top_rank=3)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-big", *HOW_TO)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        await wait_for_requests(handle)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await decide(
                handle, request_id="approval-1", decision="approve", approver="mallory@evil.test"
            )
        assert "mallory@evil.test may not decide 'approval-1'" in str(err.value.cause)
        await handle.cancel()


async def test_a_question_no_source_answers_goes_to_a_human_and_its_draft_cannot_be_approved(
    dev_env, db, run_worker
):
    """DEMO-4's path: Spanish is read, nothing in the help centre answers it with
    confidence, so a human gets it; the reviewer's notes never enter the draft,
    and the draft as it stands cannot be approved."""
    add_account(db, "acc-es", arr=20_000, top_rank=180)  # a sourced answer would go alone
    ticket = new_ticket_id()
    add_ticket(
        db,
        ticket,
        "acc-es",
        "No podemos exportar los informes",
        "Hola, no podemos exportar los informes semanales. ¿Nos pueden ayudar por favor?",
    )
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        [request] = await wait_for_requests(handle)
        assert (request.kind, request.autonomy.value) == ("approval", "copilot")
        assert request.draft == "Hola Sam,\n\nSaludos cordiales,\nCustomer Success de Acme\n"
        assert request.not_sendable.startswith("no source answers this with confidence")
        assert any("Not sendable as it stands" in n for n in request.notes)
        assert "article:export-report-csv-es" in [s.source_id for s in request.sources]
        # The payload offered is an edit, and approving it unedited is refused, by
        # update (a clear error) and by signal (recorded, the workflow keeps waiting).
        assert request.signal_payload["decision"] == "edit"
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await decide(handle, request_id="approval-1", decision="approve", approver=CSM)
        assert "cannot be sent as it stands" in str(err.value.cause)
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(
                handle, request_id="approval-1", decision="edit", approver=CSM, text=request.draft
            )
        await handle.signal("decide", {"request_id": "approval-1", "decision": "approve",
                                       "approver": CSM})  # fmt: skip
        details = await eventually(
            lambda: current_details(handle), holds=lambda d: "cannot be sent as it stands" in d
        )
        assert "language es" in details
        assert not customer_messages(db, handle.id)
        answer = "Hola Sam, abra Informes, elija el informe y pulse Exportar. Saludos, Jane"
        await decide(handle, request_id="approval-1", decision="edit", approver=CSM, text=answer)
        outcome: EscalationResult = await handle.result()
    [sent] = customer_messages(db, handle.id)
    assert sent.body == answer and outcome.outcome == "edited"
    assert ticket_row(db, ticket).status == "answered"
