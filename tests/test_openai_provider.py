"""The OpenAI provider end to end: the real `openai` client inside the real
activities, against the local FakeOpenAI server, driven by the escalation
workflow on the dev server."""

from __future__ import annotations

from datetime import timedelta

from support.data import (
    CSM,
    HOW_TO_ASSESSMENT,
    HOW_TO_BODY,
    HOW_TO_DRAFT,
    MANAGER,
    audit,
    customer_messages,
    outbox,
    small_how_to,
)
from support.openai_server import FakeOpenAI, http_error, json_answer, provider_for
from support.polling import eventually
from support.temporal import (
    copilot_reply_request,
    current_details,
    decide,
    start_escalation,
    wait_for_requests,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from contracts.escalation import EscalationResult

LABEL = "openai:test-model"


def schema_name(request: dict) -> str:
    return request["body"]["response_format"]["json_schema"]["name"]


def rows(db, workflow_id: str, action: str):
    return [e for e in audit(db, workflow_id) if e.action == action]


async def activity_events(handle: WorkflowHandle, activity_type: str) -> dict:
    """The scheduled/started/completed/failed events of the one activity of this type."""
    events = [e async for e in handle.fetch_history_events()]
    [scheduled] = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    ]
    found = {"scheduled": scheduled}
    for event in events:
        for kind, attrs in (
            ("started", "activity_task_started_event_attributes"),
            ("completed", "activity_task_completed_event_attributes"),
            ("failed", "activity_task_failed_event_attributes"),
        ):
            if event.HasField(attrs) and getattr(event, attrs).scheduled_event_id == (
                scheduled.event_id
            ):
                assert kind not in found, f"two {kind} events for {activity_type}"
                found[kind] = event
    return found


async def test_valid_structured_answers_are_used_and_audited(dev_env, db, run_worker):
    ticket = small_how_to(db)
    with FakeOpenAI() as fake:
        fake.script(
            json_answer(HOW_TO_ASSESSMENT, prompt_tokens=120, completion_tokens=30),
            json_answer(HOW_TO_DRAFT, prompt_tokens=200, completion_tokens=80),
        )
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            handle = await start_escalation(db, dev_env.client, tq, ticket)
            outcome: EscalationResult = await handle.result()
        assert fake.pending == 0

    assert outcome.outcome in ("sent", "sent_sampled") and outcome.requests == []
    assert outcome.autonomy.value == "supervised"
    [reply] = outbox(db, handle.id)
    assert reply.audience == "customer" and reply.to == "sam@acc-20k.example"
    # The model's body; the subject is csops' own, never the customer's line back.
    assert (reply.subject, reply.body) == (f"Your support request {ticket}", HOW_TO_DRAFT["body"])
    assert reply.engine == LABEL

    [assessed] = rows(db, handle.id, "ticket_classification")
    assert (assessed.outcome, assessed.engine, assessed.model) == ("assessed", LABEL, "test-model")
    assert assessed.tokens == 150 and assessed.latency_ms > 0
    assert assessed.detail["intent"] == "how_to" and assessed.detail["engine"] == LABEL
    assert assessed.detail["confidence"] == 0.9 and assessed.detail["injection_suspected"] is False
    [drafted] = rows(db, handle.id, "draft_reply")
    assert (drafted.outcome, drafted.engine, drafted.model) == ("drafted", LABEL, "test-model")
    assert drafted.tokens == 280 and drafted.latency_ms > 0
    assert drafted.detail["sources"] == ["article:export-report-csv-en"]
    assert drafted.detail["not_sendable"] is None and drafted.detail["engine"] == LABEL
    [sent] = rows(db, handle.id, "customer_reply")
    assert (sent.actor, sent.autonomy, sent.engine) == ("agent", "supervised", LABEL)

    assess_call, draft_call = fake.requests
    for call in (assess_call, draft_call):
        assert (call["method"], call["path"]) == ("POST", "/v1/chat/completions")
        assert call["authorization"] == "Bearer test-key"
        assert call["body"]["model"] == "test-model" and call["body"]["temperature"] == 0
        system, user = call["body"]["messages"]
        assert (system["role"], user["role"]) == ("system", "user")
        assert HOW_TO_BODY in user["content"]
    assert (schema_name(assess_call), schema_name(draft_call)) == ("TicketAssessment", "ModelDraft")
    # The model answers from the retrieved sources, which the prompt gives with their ids.
    assert (
        '<source id="article:export-report-csv-en"' in draft_call["body"]["messages"][1]["content"]
    )
    assert f'<ticket id="{ticket}">' in assess_call["body"]["messages"][1]["content"]


async def test_a_rate_limited_call_is_retried_by_temporal(dev_env, db, run_worker):
    ticket = small_how_to(db)
    with FakeOpenAI() as fake:
        fake.script(
            http_error(429, "slow down", retry_after=2),
            json_answer(HOW_TO_ASSESSMENT),
            json_answer(HOW_TO_DRAFT),
        )
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            handle = await start_escalation(db, dev_env.client, tq, ticket)
            outcome: EscalationResult = await handle.result()
            assess = await activity_events(handle, "assess_ticket")
        assert fake.pending == 0

    assert outcome.outcome in ("sent", "sent_sampled")
    assert [m.body for m in outbox(db, handle.id)] == [HOW_TO_DRAFT["body"]]
    first, retry, draft_call = fake.requests
    assert first["body"] == retry["body"]  # the same call, made again
    assert (schema_name(retry), schema_name(draft_call)) == ("TicketAssessment", "ModelDraft")

    started = assess["started"].activity_task_started_event_attributes
    assert started.attempt == 2
    # The first attempt's failure: retryable, and the retry waited the server's Retry-After.
    failure = started.last_failure
    assert failure.application_failure_info.type == "RateLimited"
    assert not failure.application_failure_info.non_retryable
    assert failure.message == "LLM endpoint rate-limited the call: Error code: 429 - slow down"
    assert failure.application_failure_info.next_retry_delay.ToTimedelta() == timedelta(seconds=2)
    assert "completed" in assess and "failed" not in assess
    # Every attempt is audited, the rate-limited one included (keyed by attempt).
    rate_limited, assessed = rows(db, handle.id, "ticket_classification")
    assert rate_limited.outcome == "failed: ApplicationError"
    assert rate_limited.idempotency_key.endswith("/1") and "429" in rate_limited.detail["error"]
    assert assessed.outcome == "assessed" and assessed.idempotency_key.endswith("/2")


async def test_invalid_model_output_goes_to_a_human(dev_env, db, run_worker):
    ticket = small_how_to(db)
    with FakeOpenAI() as fake:
        fake.script(json_answer("this is not json {"), json_answer(HOW_TO_DRAFT))
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            handle = await start_escalation(db, dev_env.client, tq, ticket)
            request = await copilot_reply_request(handle)
            # $20K would be supervised; unusable model output means a human decides.
            assert request.draft == HOW_TO_DRAFT["body"]
            details = await current_details(handle)
            assert f"Assessment ({LABEL} (invalid output))" in details
            assert "the assessment asked for a human" in details
            told = await eventually(lambda: outbox(db, handle.id))  # the approvers' notice
            assert [m.audience for m in told] == ["internal"]

            await decide(handle, request_id=request.request_id, decision="reject", approver=CSM)
            outcome: EscalationResult = await handle.result()
        assert fake.pending == 0
        # Unusable output is not retried: one assessment call, one draft call.
        assert [schema_name(r) for r in fake.requests] == ["TicketAssessment", "ModelDraft"]

    assert outcome.outcome == "rejected" and outcome.customer_messages_sent == 0
    [assessed] = rows(db, handle.id, "ticket_classification")
    assert (assessed.outcome, assessed.engine, assessed.model) == (
        "invalid_output",
        LABEL,
        "test-model",
    )
    assert assessed.tokens == 70  # the unusable answer still cost tokens
    assert assessed.detail["needs_human"] is True and assessed.detail["confidence"] == 0
    assert assessed.detail["engine"] == f"{LABEL} (invalid output)"
    assert "model output was unusable (JSONDecodeError" in assessed.detail["reasons"][0]
    assert not customer_messages(db, handle.id)


async def test_a_refused_request_is_not_retried_and_a_human_gets_the_ticket(
    dev_env, db, run_worker
):
    ticket = small_how_to(db)
    with FakeOpenAI() as fake:
        fake.script(http_error(400, "response_format is not supported"), json_answer(HOW_TO_DRAFT))
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            handle = await start_escalation(db, dev_env.client, tq, ticket)
            [request] = await wait_for_requests(handle)
            assess = await activity_events(handle, "assess_ticket")

            assert (request.kind, request.autonomy.value) == ("approval", "copilot")
            assert request.eligible_approvers == [CSM, MANAGER]
            details = await current_details(handle)
            assert "Assessment (unavailable)" in details
            assert "confidence below 0.6: 0.00; the assessment asked for a human" in details
            told = await eventually(lambda: outbox(db, handle.id))  # the approvers' notice
            assert [m.audience for m in told] == ["internal"]

            await decide(
                handle, request_id=request.request_id, decision="approve", approver=MANAGER
            )
            outcome: EscalationResult = await handle.result()
        assert fake.pending == 0
        # Exactly one assessment call reached the server: the 400 was not retried.
        assert [schema_name(r) for r in fake.requests] == ["TicketAssessment", "ModelDraft"]

    assert assess["started"].activity_task_started_event_attributes.attempt == 1
    failure = assess["failed"].activity_task_failed_event_attributes.failure
    assert failure.application_failure_info.type == "LlmRequestRefused"
    assert failure.application_failure_info.non_retryable is True
    assert "refused the request: Error code: 400" in failure.message
    assert "completed" not in assess

    assert outcome.outcome == "approved" and outcome.customer_messages_sent == 1
    [reply] = customer_messages(db, handle.id)
    assert reply.body == HOW_TO_DRAFT["body"]
    [approved] = [e for e in audit(db, handle.id) if e.outcome == "approved"]
    assert approved.actor == MANAGER and approved.autonomy == "copilot"
