"""The internal ticket for an NPS dip, opened on a local tracker webhook started by
the test: one POST per dip with the issue's JSON and the Idempotency-Key header,
the created id recorded; asked again, nothing is POSTed; an HTTP error raises (a
5xx retried, a 4xx not) and records nothing; no webhook, nothing opened.

Real SQLite book, real HTTP over a socket; the activity called as the worker's
thread pool calls it.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from support.renewal import q, seeded_book
from support.ticket_server import TrackerServer
from temporalio.exceptions import ApplicationError

from activities.renewal_sections import anger_judge
from activities.watch import WatchActivities
from adapters.ticket_webhook import TicketWebhook
from context.health import record_health
from contracts import errors
from contracts.health import AccountHealth, Detractor, InternalTicketInput
from policies.loader import load_policies

AS_OF = date(2026, 11, 1)
WORKFLOW_ID = "health/{account}"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return seeded_book(tmp_path_factory.mktemp("webhook"), accounts=30, seed=7, as_of=AS_OF)


@pytest.fixture(scope="module")
def dips(engine) -> list[tuple[AccountHealth, Detractor]]:
    """Detractor responses of the book (the test's own SQL), each with its account's
    health recorded for the day."""
    rows = q(
        engine,
        "SELECT n.id, n.account_id, n.score, n.at, n.contact_email, n.comment "
        "FROM npsresponse n WHERE n.score <= 6 AND n.comment != '' ORDER BY n.id LIMIT 4",
    )
    assert len(rows) == 4
    policies = load_policies()
    found = []
    for rid, account, score, at, email, comment in rows:
        health = record_health(engine, account, AS_OF, policies, anger_judge)
        detractor = Detractor(
            response_id=rid, score=score, at=at, contact_email=email, comment=comment
        )
        found.append((health, detractor))
    return found


def ticket_input(health: AccountHealth, detractor: Detractor) -> InternalTicketInput:
    return InternalTicketInput(
        workflow_id=WORKFLOW_ID.format(account=health.account_id),
        health=health,
        detractor=detractor,
    )


def recorded(engine, dip_key: str) -> list[tuple]:
    return q(
        engine,
        "SELECT account_id, external_id, url, workflow_id FROM internalticket WHERE dip_key = :k",
        k=dip_key,
    )


def words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text))


def test_one_post_per_dip_with_the_issue_and_the_idempotency_key(engine, dips):
    health, detractor = dips[0]
    key = f"nps:{detractor.response_id}"
    with TrackerServer() as tracker:
        acts = WatchActivities(engine, TicketWebhook(tracker.url, timeout=5))
        first = acts.open_internal_ticket(ticket_input(health, detractor))
        again = acts.open_internal_ticket(ticket_input(health, detractor))

    assert len(tracker.posts) == 1
    post = tracker.posts[0]
    assert post["path"] == "/hooks/issues"
    assert post["headers"]["Idempotency-Key"] == key
    assert post["headers"]["Content-Type"] == "application/json"
    issue = post["body"]
    assert set(issue) == {"title", "description", "labels", "priority", "external_id"}
    assert issue["labels"] == ["csops", "nps-dip"]
    assert issue["external_id"] == key
    assert issue["priority"] == (2 if health.band == "at_risk" else 3)
    assert issue["title"] == f"NPS {detractor.score}/10 at {health.account_name}"
    text = issue["description"]
    assert f"(`{health.account_id}`)" in text
    assert f"{health.score}/100, {health.band}" in text
    assert f"**NPS response {detractor.response_id}:** {detractor.score}/10" in text
    # The customer's comment, word for word (escaped for Markdown, so compare the words).
    assert words(detractor.comment) in words(text)
    for c in health.components:  # the evidence: every component with its sub-score
        assert f"- {c.name} {c.score}/100: " in text

    created = tracker.created[0]
    assert first.opened and first.dip_key == key
    assert (first.external_id, first.url) == (created["id"], created["url"])
    assert recorded(engine, key) == [
        (
            health.account_id,
            created["id"],
            created["url"],
            WORKFLOW_ID.format(account=health.account_id),
        )
    ]
    assert not again.opened and (again.external_id, again.url) == (first.external_id, first.url)
    assert created["id"] in again.reason


def test_an_http_500_raises_records_nothing_and_the_retry_opens_it(engine, dips):
    health, detractor = dips[1]
    key = detractor.dip_key
    with TrackerServer() as tracker:
        acts = WatchActivities(engine, TicketWebhook(tracker.url, timeout=5))
        tracker.script(500)
        with pytest.raises(ApplicationError) as failed:
            acts.open_internal_ticket(ticket_input(health, detractor))
        assert recorded(engine, key) == []
        retried = acts.open_internal_ticket(ticket_input(health, detractor))

    assert failed.value.type == errors.TICKET_WEBHOOK_FAILED
    assert not failed.value.non_retryable  # Temporal retries it
    assert "HTTP 500" in str(failed.value) and tracker.url in str(failed.value)
    assert len(tracker.posts) == 2
    assert tracker.posts[0]["body"] == tracker.posts[1]["body"]  # the same issue again
    assert retried.opened
    assert [r[1] for r in recorded(engine, key)] == [tracker.created[0]["id"]]


def test_a_refused_request_is_not_retried_and_a_jira_key_is_read(engine, dips):
    health, detractor = dips[2]
    with TrackerServer() as tracker:
        acts = WatchActivities(engine, TicketWebhook(tracker.url, timeout=5))
        tracker.script(400)
        with pytest.raises(ApplicationError) as refused:
            acts.open_internal_ticket(ticket_input(health, detractor))
        tracker.script(201, {"key": "CS-981", "self": "https://jira.test/rest/api/2/issue/10981"})
        opened = acts.open_internal_ticket(ticket_input(health, detractor))

    assert refused.value.type == errors.TICKET_WEBHOOK_REFUSED
    assert refused.value.non_retryable and "HTTP 400" in str(refused.value)
    assert (opened.opened, opened.external_id, opened.url) == (True, "CS-981", None)
    assert recorded(engine, detractor.dip_key)[0][1:3] == ("CS-981", None)


def test_without_a_webhook_nothing_is_opened_or_recorded(engine, dips):
    health, detractor = dips[3]
    result = WatchActivities(engine, None).open_internal_ticket(ticket_input(health, detractor))
    assert not result.opened and result.external_id is None
    assert "CSOPS_TICKET_WEBHOOK_URL" in result.reason
    assert recorded(engine, detractor.dip_key) == []
