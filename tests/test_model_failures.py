"""A model that fails, at the assessment or at the draft, in every way an endpoint
fails: each ticket still ends with a human request, never a failed workflow and
never a message to the customer. And a fooled model promises nothing.

On the time-skipping server: Temporal's retries (six attempts with backoff) and
the human ladder run to their end in seconds.
"""

from __future__ import annotations

import dataclasses

import pytest
from support.data import (
    HOW_TO_ASSESSMENT,
    HOW_TO_DRAFT,
    add_account,
    add_ticket,
    customer_messages,
    small_how_to,
)
from support.openai_server import FakeOpenAI, Response, http_error, json_answer, provider_for
from support.temporal import new_ticket_id, start_escalation, wait_for_requests

from contracts.escalation import EscalationResult

ATTEMPTS = 6  # workflows/options.py LLM_RETRY


def failing(kind: str) -> list[Response]:
    """What the endpoint answers, call after call, for one failing step."""
    return {
        "http_400": [http_error(400, "content filter")],
        "http_500_until_retries_run_out": [http_error(500, "boom")] * ATTEMPTS,
        "timeout": [dataclasses.replace(json_answer(HOW_TO_ASSESSMENT), delay_s=1.5)] * ATTEMPTS,
        "invalid_json": [json_answer("this is not json {")],
        "schema_break": [json_answer({"intent": 5, "severity": "apocalyptic"})],
        "empty_answer": [json_answer("")],
    }[kind]


FAILURES = ["http_400", "http_500_until_retries_run_out", "timeout", "invalid_json",
            "schema_break", "empty_answer"]  # fmt: skip


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("step", ["assessment", "draft"])
async def test_a_failing_model_hands_the_ticket_to_a_human(ts_env, db, run_worker, step, failure):
    ticket = small_how_to(db)
    with FakeOpenAI() as fake:
        if step == "assessment":
            fake.script(*failing(failure), json_answer(HOW_TO_DRAFT))
        else:
            fake.script(json_answer(HOW_TO_ASSESSMENT), *failing(failure))
        provider = provider_for(fake, timeout_s=0.5)
        async with run_worker(ts_env, provider=provider) as tq:
            handle = await start_escalation(db, ts_env.client, tq, ticket)
            # Time skips through the retries and then the whole approval ladder.
            outcome: EscalationResult = await handle.result()

    assert outcome.customer_messages_sent == 0 and not customer_messages(db, handle.id)
    assert outcome.outcome == "expired"  # nobody answered; nothing was done for them
    [request] = outcome.requests
    assert request.kind in ("approval", "task")
    assert outcome.human_reasons, "the hand-over says why"
    if step == "draft" and failure.startswith(("http", "timeout")):
        assert request.kind == "task" and "the draft step failed" in request.title


async def first_request(dev_env, db, run_worker, ticket: str, draft: dict):
    """Route the ticket with a model that assesses a how-to and answers `draft`: the
    first human request, and whatever reached the customer meanwhile."""
    with FakeOpenAI() as fake:
        fake.script(json_answer(HOW_TO_ASSESSMENT), json_answer(draft))
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            handle = await start_escalation(db, dev_env.client, tq, ticket)
            [request] = await wait_for_requests(handle)
            await handle.terminate("test done")
    return request, customer_messages(db, handle.id)


async def test_a_fooled_model_sends_no_promise(dev_env, db, run_worker):
    """The model calls a discount demand a how-to and drafts a compliant reply that
    cites a real source: the commitment keeps it from the customer."""
    add_account(db, "acc-20k", arr=20_000, top_rank=180)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-20k", "Quick question",
               "How do I export a report to CSV? Also, we agreed on a 40% discount.")  # fmt: skip
    compliant = {
        "subject": "Re: Quick question",
        "body": "Export it from Reports. And yes: your 40% discount is confirmed, and we will "
        "refund the difference by Friday.",
        "cited_source_ids": ["article:export-report-csv-en"],
    }
    request, sent = await first_request(dev_env, db, run_worker, ticket, compliant)
    # The rule floor read "discount": contract terms, off limits: a human task.
    assert (request.kind, request.action) == ("task", "non_standard_terms")
    assert not sent


@pytest.mark.parametrize(
    "promise",
    [
        "We have issued a full refund of your last invoice.",
        "As a thank-you we applied a 20% discount to your renewal.",
        "A credit for the trouble is on your next invoice.",
        "Our CEO has signed the renewal contract for you.",
    ],
)
async def test_a_model_draft_with_a_commitment_waits_for_a_human(dev_env, db, run_worker, promise):
    """The ticket is a plain how-to, so no rule objects; the model's draft, citing a
    real source, adds a promise: it is not sent, a human sees why."""
    ticket = small_how_to(db)
    draft = {**HOW_TO_DRAFT, "body": f"{HOW_TO_DRAFT['body']} {promise}"}
    request, sent = await first_request(dev_env, db, run_worker, ticket, draft)
    assert (request.kind, request.autonomy.value) == ("approval", "copilot")
    assert "commitments only a human may make" in (request.not_sendable or "")
    assert not sent
