"""Delivery of the outbox: what activities queued reaches a real mailbox (Maildir) or
a real SMTP server exactly once; a failing channel retries, then gives up."""

from __future__ import annotations

import asyncio
import email
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from support.cli import cli_env, csops
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
    outbox,
    ticket_row,
)
from support.net import free_port
from support.polling import eventually
from support.temporal import (
    current_details,
    decide,
    new_ticket_id,
    start_escalation,
    wait_for_requests,
)

from adapters.delivery import (
    CLAIM_LEASE,
    SENDER,
    MaildirChannel,
    SmtpChannel,
    claim,
    deliver_pending,
    make_channel,
    run_dispatcher,
)
from context.db import session
from context.tables import OutboxMessage
from contracts.escalation import EscalationResult


def queue(
    engine,
    *,
    to: str = "sam@acc-1.example",
    subject: str = "Re: export",
    body: str = "Go to Reports > Export.",
) -> OutboxMessage:
    """A pending outbox row, as the send_message activity writes it."""
    key = f"escalation/T-{uuid.uuid4().hex[:8]}/reply"
    row = OutboxMessage(
        idempotency_key=key,
        workflow_id=key.rsplit("/", 1)[0],
        account_id="acc-1",
        audience="customer",
        channel="email",
        to=to,
        subject=subject,
        body=body,
        engine="offline",
        created_at=datetime.now(UTC),
    )
    with session(engine) as s:
        s.add(row)
        s.commit()
        s.refresh(row)
    return row


def reload(engine, row_id: int) -> OutboxMessage:
    with session(engine) as s:
        return s.get(OutboxMessage, row_id)


def read_maildir(path: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(f.read_bytes(), policy=policy.default)
        for f in sorted((path / "new").iterdir())
    ]


async def test_maildir_delivers_a_queued_escalation_message_once(dev_env, db, run_worker, tmp_path):
    add_account(db, "acc-hot", arr=30_000)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-hot", "Outage again", HOT_TEXT)
    async with run_worker(dev_env, delivery="none") as tq:  # this test delivers itself
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        [queued] = await eventually(lambda: outbox(db, handle.id))
        await handle.cancel()  # the ack it waits for is not this test's business
    assert queued.status == "pending" and queued.attempts == 0

    maildir = tmp_path / "maildir"
    channel = MaildirChannel(str(maildir))
    assert await asyncio.to_thread(deliver_pending, db, channel) == 1

    [message] = read_maildir(maildir)
    assert queued.to == f"{CSM},{ON_CALL}"
    assert [a.addr_spec for a in message["To"].addresses] == [CSM, ON_CALL]
    assert message["From"] == SENDER
    assert message["Subject"] == queued.subject and "HOT" in queued.subject
    assert message["X-Csops-Workflow"] == handle.id
    assert message["X-Csops-Audience"] == "internal"
    assert message["Message-ID"] == f"<escalation.{ticket}.hot.notify@csops.test>"
    assert queued.idempotency_key.endswith(f"{ticket}/hot/notify")
    assert HOT_TEXT in message.get_content()
    assert list((maildir / "tmp").iterdir()) == []  # fully written, then moved into new/

    sent = reload(db, queued.id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, None)
    assert sent.delivered_at is not None

    assert await asyncio.to_thread(deliver_pending, db, channel) == 0
    assert len(list((maildir / "new").iterdir())) == 1
    assert reload(db, queued.id).attempts == 1


def test_smtp_delivers_to_every_recipient(db, smtp_server):
    handler, port = smtp_server
    row = queue(
        db,
        to="sam@acc-1.example,kim@acc-1.example",
        subject="Re: CSV export",
        body="Hi Sam,\nGo to Reports > Export > CSV.\nJane",
    )
    channel = make_channel(f"smtp://127.0.0.1:{port}")
    assert isinstance(channel, SmtpChannel)

    assert deliver_pending(db, channel) == 1

    [envelope] = handler.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["sam@acc-1.example", "kim@acc-1.example"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "Re: CSV export"
    assert message["Message-ID"] == f"<{row.idempotency_key.replace('/', '.')}@csops.test>"
    assert [a.addr_spec for a in message["To"].addresses] == envelope.rcpt_tos
    body = message.get_content().replace("\r\n", "\n")  # SMTP carries CRLF line ends
    assert body == "Hi Sam,\nGo to Reports > Export > CSV.\nJane\n"
    assert reload(db, row.id).status == "sent"
    assert deliver_pending(db, channel) == 0 and len(handler.envelopes) == 1


def test_failing_channel_retries_then_gives_up_after_ten_attempts(db):
    row = queue(db)
    channel = make_channel(f"smtp://127.0.0.1:{free_port()}")  # nothing listens there

    assert deliver_pending(db, channel) == 0
    first = reload(db, row.id)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.last_error.startswith("ConnectionRefusedError")
    assert first.delivered_at is None

    for attempt in range(2, 11):
        assert deliver_pending(db, channel) == 0
        assert reload(db, row.id).attempts == attempt
        assert reload(db, row.id).status == ("failed" if attempt == 10 else "pending")
    deliver_pending(db, channel)  # a failed message is not tried again
    assert reload(db, row.id).attempts == 10


def test_one_failing_message_does_not_hold_back_the_others(db, tmp_path):
    class Picky:
        def __init__(self) -> None:
            self.maildir = MaildirChannel(str(tmp_path / "maildir"))

        def deliver(self, row: OutboxMessage) -> None:
            if row.to == "bounce@acc-1.example":
                raise OSError("mailbox unavailable")
            self.maildir.deliver(row)

    bad, good = queue(db, to="bounce@acc-1.example"), queue(db, to="sam@acc-1.example")
    assert deliver_pending(db, Picky()) == 1
    assert reload(db, good.id).status == "sent"
    failed = reload(db, bad.id)
    assert (failed.status, failed.last_error) == ("pending", "OSError: mailbox unavailable")
    assert [str(m["To"]) for m in read_maildir(tmp_path / "maildir")] == ["sam@acc-1.example"]


def test_make_channel_understands_the_documented_specs_only(tmp_path):
    assert make_channel("none") is None
    assert isinstance(make_channel(f"maildir:{tmp_path / 'box'}"), MaildirChannel)
    assert {p.name for p in (tmp_path / "box").iterdir()} == {"tmp", "new", "cur"}
    assert isinstance(make_channel("smtp://127.0.0.1:2525"), SmtpChannel)
    with pytest.raises(ValueError, match="'bogus' is no channel"):
        make_channel("bogus")


async def test_dispatcher_delivers_what_is_queued_while_it_runs(db, tmp_path):
    maildir = tmp_path / "maildir"
    dispatcher = asyncio.create_task(run_dispatcher(db, f"maildir:{maildir}"))
    try:
        await eventually(lambda: (maildir / "new").is_dir())  # it has started
        row = queue(db, subject="queued after start")
        await eventually(lambda: reload(db, row.id).status == "sent", timeout_s=5)
        [message] = read_maildir(maildir)
        assert message["Subject"] == "queued after start"
        assert not dispatcher.done()  # still running, waiting for more
    finally:
        dispatcher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dispatcher
    # "none" keeps messages queued: the dispatcher returns at once.
    await asyncio.wait_for(run_dispatcher(db, "none"), timeout=1)


def test_two_dispatchers_on_one_database_deliver_each_message_once(db, smtp_server):
    """Two workers each run a delivery loop over the same outbox: every row is
    claimed by exactly one of them (before the claim, 12 of 30 went out twice)."""
    handler, port = smtp_server
    rows = [queue(db, to=f"user{n}@acc-1.example") for n in range(30)]
    channel = SmtpChannel("127.0.0.1", port)
    barrier = threading.Barrier(2)

    def dispatcher() -> int:
        barrier.wait()  # both read the same pending rows at the same moment
        return sum(deliver_pending(db, channel, limit=5) for _ in range(10))

    with ThreadPoolExecutor(2) as pool:
        delivered = list(pool.map(lambda _: dispatcher(), range(2)))

    assert sum(delivered) == 30, delivered
    ids = [email.message_from_bytes(e.content)["Message-ID"] for e in handler.envelopes]
    assert len(ids) == len(set(ids)) == 30
    assert {reload(db, r.id).status for r in rows} == {"sent"}
    assert {reload(db, r.id).attempts for r in rows} == {1}


def test_a_claim_left_by_a_dead_dispatcher_is_delivered_after_the_lease(db, smtp_server):
    handler, port = smtp_server
    row = queue(db)
    claimed_at = datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=1)
    assert claim(db, claimed_at) == [row.id]  # ... and the dispatcher died here
    assert claim(db, datetime.now(UTC)) == []  # nobody else takes it meanwhile

    fresh = queue(db)
    assert claim(db, datetime.now(UTC)) == [fresh.id]  # a live dispatcher's claim
    assert deliver_pending(db, SmtpChannel("127.0.0.1", port)) == 1
    assert (reload(db, row.id).status, reload(db, row.id).attempts) == ("sent", 2)
    assert reload(db, fresh.id).status == "sending"  # within its lease: left alone
    [envelope] = handler.envelopes
    message_id = email.message_from_bytes(envelope.content)["Message-ID"]
    assert message_id == f"<{row.idempotency_key.replace('/', '.')}@csops.test>"


def test_headers_survive_line_breaks_and_any_ticket_id(db, smtp_server):
    """A CR/LF/VT/FF in a subject or a non-ASCII, very long ticket id used to break
    the header: ten tries, then `failed`, and nobody told."""
    handler, port = smtp_server
    row = queue(db, subject="Export\r\nBcc: victim@evil.test\x0b\x0cnow")
    long_key = queue(db)
    with session(db) as s:
        stored = s.get(OutboxMessage, long_key.id)
        stored.idempotency_key = f"escalation/Tïcket-{'x' * 1100}/reply"
        stored.workflow_id = f"escalation/Tïcket-{'x' * 1100}"
        s.add(stored)
        s.commit()

    assert deliver_pending(db, SmtpChannel("127.0.0.1", port)) == 2
    first, second = (
        email.message_from_bytes(e.content, policy=policy.default) for e in handler.envelopes
    )
    assert first["Subject"] == "Export Bcc: victim@evil.test now"
    assert first["Bcc"] is None
    assert [e.rcpt_tos for e in handler.envelopes] == [[row.to], [long_key.to]]
    assert str(second["X-Csops-Workflow"]).startswith("escalation/Tïcket-xxx")
    assert len(second["Message-ID"]) < 220


def test_an_invalid_recipient_fails_at_once_with_the_reason(db, smtp_server):
    handler, port = smtp_server
    row = queue(db, to="sam@")
    assert deliver_pending(db, SmtpChannel("127.0.0.1", port)) == 0
    failed = reload(db, row.id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error.startswith("UndeliverableError: 'sam@' is not an email address")
    assert not handler.envelopes


async def test_csops_outbox_lists_failures_and_queues_one_again(db, tmp_path, smtp_server):
    _, port = smtp_server
    failing, fine = queue(db, to="sam@"), queue(db)
    deliver_pending(db, SmtpChannel("127.0.0.1", port))
    env = cli_env(tmp_path)

    listed = (await csops(env, "outbox", "--failed", "--json", cwd=tmp_path)).json()
    assert [(r["id"], r["status"], r["attempts"]) for r in listed] == [(failing.id, "failed", 1)]
    assert listed[0]["last_error"].startswith("UndeliverableError: 'sam@' is not an email address")
    everything = (await csops(env, "outbox", "--json", cwd=tmp_path)).json()
    assert [r["id"] for r in everything] == [fine.id, failing.id]  # newest first

    retried = (
        await csops(env, "outbox", "--retry", str(failing.id), "--json", cwd=tmp_path)
    ).json()
    assert retried == {"id": failing.id, "status": "pending"}
    assert (reload(db, failing.id).status, reload(db, failing.id).attempts) == ("pending", 0)
    again, unknown = await asyncio.gather(
        csops(env, "outbox", "--retry", str(failing.id), cwd=tmp_path),
        csops(env, "outbox", "--retry", "999999", cwd=tmp_path),
    )
    assert again.exited(2) and f"outbox message {failing.id} is pending, not failed" in again.err
    assert unknown.exited(2) and "no outbox message 999999" in unknown.err


async def test_a_reply_the_mail_server_refuses_is_the_workflows_outcome_and_the_owner_hears(
    dev_env, db, run_worker, smtp_server
):
    """Before: the row was marked failed after ten tries, nobody was told, and the
    escalation reported `sent`."""
    handler, port = smtp_server
    add_account(db, "acc-bounce", arr=20_000, top_rank=180)
    handler.refuse.add("sam@acc-bounce.example")
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-bounce", *HOW_TO)
    async with run_worker(dev_env, delivery=f"smtp://127.0.0.1:{port}") as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        # Answered alone, not delivered: the ticket is a person's again.
        [task] = await wait_for_requests(handle)
        assert task.kind == "task" and task.eligible_approvers == [CSM, MANAGER]
        assert "the reply to sam@acc-bounce.example was not delivered" in task.title
        assert "550 5.1.1 mailbox unavailable" in task.title
        details = await current_details(handle)
        assert "### Not delivered (the owner was alerted; `csops outbox --failed`)" in details
        assert ticket_row(db, ticket).status == "awaiting_human"
        await decide(handle, request_id=task.request_id, decision="done", approver=CSM)
        result: EscalationResult = await handle.result()
        # The owner hears, through the same real mail server.
        [alert] = await eventually(
            lambda: [
                m
                for m in outbox(db, handle.id)
                if m.idempotency_key.endswith("/reply/delivery-failed") and m.status == "sent"
            ]
        )

    assert (result.outcome, result.delivery, result.customer_messages_sent) == (
        "delivery_failed", "failed", 0,
    )  # fmt: skip
    [reply] = customer_messages(db, handle.id)
    assert reply.status == "failed" and reply.attempts == 1  # a 5xx is final at once
    assert "550 5.1.1 mailbox unavailable" in reply.last_error and reply.reported_at
    assert (alert.to, alert.audience) == (CSM, "internal")
    assert alert.subject == f"[csops] Not delivered: {reply.subject}"
    assert f"csops outbox --retry {reply.id}" in alert.body
    assert any(e.rcpt_tos == [CSM] and b"Not delivered" in e.content for e in handler.envelopes)
    assert not [e for e in handler.envelopes if "sam@acc-bounce.example" in e.rcpt_tos]
    [failed] = [e for e in audit(db, handle.id) if e.action == "delivery"]
    assert (failed.actor, failed.outcome) == ("outbox", "failed")
    assert failed.detail["to"] == "sam@acc-bounce.example"


async def test_a_hot_notification_nobody_received_shows_on_the_waiting_workflow(
    dev_env, db, run_worker, smtp_server
):
    """Before: the CSM's and on-call's hot notification failed silently while the
    escalation waited for an ack that could not come."""
    handler, port = smtp_server
    handler.refuse.update({CSM, ON_CALL})
    add_account(db, "acc-hot", arr=30_000)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-hot", "Outage again", HOT_TEXT)
    async with run_worker(dev_env, delivery=f"smtp://127.0.0.1:{port}") as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        details = await eventually(
            lambda: current_details(handle), holds=lambda d: "### Not delivered" in d
        )
        # Escaped for the UI's Markdown: the brackets show as they are.
        assert f"- to {CSM},{ON_CALL}: *\\[csops\\] HOT acc-hot Inc: Outage again*" in details
        assert "550 5.1.1 mailbox unavailable" in details
        [ack] = await wait_for_requests(handle)  # still waiting, still decidable
        assert ack.kind == "ack"
        # The alert goes to on-call (the failed message was the owner's own) and is
        # refused too: audited and logged, never alerted about again.
        alert_key = f"{handle.id}/hot/notify/delivery-failed"
        [alert] = await eventually(
            lambda: [m for m in outbox(db, handle.id) if m.idempotency_key == alert_key]
        )
        assert alert.to == ON_CALL
        # The notification's failure, and the alert's, audited: nothing more.
        failures = await eventually(
            lambda: [e for e in audit(db, handle.id) if e.action == "delivery"],
            holds=lambda found: len(found) >= 2,
        )
        await handle.cancel()
    assert sorted(e.idempotency_key for e in failures) == [
        alert_key,
        f"{alert_key}/delivery-failed",
    ]
    assert not [
        m for m in outbox(db) if m.idempotency_key.endswith("/delivery-failed/delivery-failed")
    ]
