"""A model that fails, at the assessment or at the draft, in every way an endpoint
fails: each ticket still ends with a human request, never a failed workflow and
never a message to the customer. And a fooled model promises nothing.

On the time-skipping server: Temporal's retries (six attempts with backoff) and
the human ladder run to their end in seconds.
"""

from __future__ import annotations

import dataclasses

import pytest
from support.data import HOW_TO, add_account, add_ticket, customer_messages
from support.openai_server import FakeOpenAI, Response, http_error, json_answer, provider_for
from support.temporal import new_ticket_id, start_escalation, wait_for_requests

from contracts.escalation import EscalationResult

ASSESSMENT = {"intent": "how_to", "sentiment": 0.1, "severity": "low", "hot": False,
              "confidence": 0.9, "language": "en", "reasons": ["a how-to"]}  # fmt: skip
DRAFT = {"subject": "Re", "body": "Open Reports, pick the report and choose Export.",
         "cited_source_ids": ["article:export-report-csv-en"]}  # fmt: skip
ATTEMPTS = 6  # workflows/options.py LLM_RETRY


def failing(kind: str) -> list[Response]:
    """What the endpoint answers, call after call, for one failing step."""
    return {
        "http_400": [http_error(400, "content filter")],
        "http_500_until_retries_run_out": [http_error(500, "boom")] * ATTEMPTS,
        "timeout": [dataclasses.replace(json_answer(ASSESSMENT), delay_s=1.5)] * ATTEMPTS,
        "invalid_json": [json_answer("this is not json {")],
        "schema_break": [json_answer({"intent": 5, "severity": "apocalyptic"})],
        "empty_answer": [json_answer("")],
    }[kind]


FAILURES = ["http_400", "http_500_until_retries_run_out", "timeout", "invalid_json",
            "schema_break", "empty_answer"]  # fmt: skip


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("step", ["assessment", "draft"])
async def test_a_failing_model_hands_the_ticket_to_a_human(ts_env, db, run_worker, step, failure):
    add_account(db, "acc-20k", arr=20_000, top_rank=180)  # a sourced answer would go alone
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-20k", *HOW_TO)
    with FakeOpenAI() as fake:
        if step == "assessment":
            fake.script(*failing(failure), json_answer(DRAFT))
        else:
            fake.script(json_answer(ASSESSMENT), *failing(failure))
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
    with FakeOpenAI() as fake:
        fake.script(json_answer(ASSESSMENT), json_answer(compliant))
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            handle = await start_escalation(db, dev_env.client, tq, ticket)
            [request] = await wait_for_requests(handle)
            await handle.terminate("test done")
    # The rule floor read "discount": contract terms, off limits: a human task.
    assert (request.kind, request.action) == ("task", "non_standard_terms")
    assert not customer_messages(db, handle.id)


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
    add_account(db, "acc-20k", arr=20_000, top_rank=180)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-20k", *HOW_TO)
    draft = {**DRAFT, "body": f"{DRAFT['body']} {promise}"}
    with FakeOpenAI() as fake:
        fake.script(json_answer(ASSESSMENT), json_answer(draft))
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            handle = await start_escalation(db, dev_env.client, tq, ticket)
            [request] = await wait_for_requests(handle)
            await handle.terminate("test done")
    assert (request.kind, request.autonomy.value) == ("approval", "copilot")
    assert "commitments only a human may make" in (request.not_sendable or "")
    assert not customer_messages(db, handle.id)
