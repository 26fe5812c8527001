"""Delivery of queued outbox messages through a channel.

Activities only *queue* messages (idempotently); dispatchers deliver them, so a
retried activity can never send twice and a crash loses nothing: whatever is
still `pending` is delivered on the next pass. Each row is claimed atomically
before it is handed to a channel, so any number of workers on one database
deliver each message once (see `release_stale_claims` for the one crash window).
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.engine import Engine
from sqlmodel import col, select, update

from context.db import session
from context.tables import OutboxMessage

log = logging.getLogger("csops.outbox")
SENDER = "csops@csops.test"


def to_email(row: OutboxMessage) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = row.to
    msg["Subject"] = row.subject
    # Receivers deduplicate on this, should a delivery be retried after a crash.
    msg["Message-ID"] = f"<{row.idempotency_key.replace('/', '.')}@csops.test>"
    msg["X-Csops-Workflow"] = row.workflow_id
    msg["X-Csops-Audience"] = row.audience
    if row.engine:
        msg["X-Csops-Engine"] = row.engine
    msg.set_content(row.body)
    return msg


class MaildirChannel:
    def __init__(self, path: str) -> None:
        # Maildir(create=True) makes tmp/new/cur only for a folder it creates itself.
        for sub in ("tmp", "new", "cur"):
            (Path(path) / sub).mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(path, create=False)

    def deliver(self, row: OutboxMessage) -> None:
        self._box.add(to_email(row))


class SmtpChannel:
    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port

    def deliver(self, row: OutboxMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=10) as smtp:
            smtp.send_message(to_email(row))


def make_channel(spec: str):
    """`maildir:PATH`, `smtp://HOST:PORT`, or `none` (messages stay queued)."""
    if spec == "none":
        return None
    if spec.startswith("maildir:"):
        return MaildirChannel(spec.removeprefix("maildir:"))
    if spec.startswith("smtp://"):
        url = urlparse(spec)
        return SmtpChannel(url.hostname or "localhost", url.port or 25)
    raise ValueError(f"CSOPS_OUTBOX_DELIVERY={spec!r}: use maildir:PATH, smtp://HOST:PORT or none")


# A claim older than this is a dispatcher that died mid-delivery: the row goes back
# to pending. Far above the SMTP timeout, so a live delivery is never taken over.
CLAIM_LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 10


def claim(engine: Engine, row_id: int, now: datetime) -> bool:
    """Take a pending row for delivery. One conditional UPDATE: of any number of
    dispatchers (threads, processes, machines) on one database, exactly one wins."""
    with engine.begin() as conn:
        taken = conn.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.status) == "pending")
            .values(status="sending", claimed_at=now, attempts=col(OutboxMessage.attempts) + 1)
        )
    return taken.rowcount == 1


def release_stale_claims(engine: Engine, now: datetime) -> int:
    """Rows claimed by a dispatcher that died before recording the outcome go back
    to pending. This is the one window where a message can go out twice (handed
    to the channel, then the crash); its Message-ID lets the receiver drop it."""
    with engine.begin() as conn:
        released = conn.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.status) == "sending",
                col(OutboxMessage.claimed_at) < now - CLAIM_LEASE,
            )
            .values(status="pending")
        )
    return released.rowcount


def deliver_pending(engine: Engine, channel, limit: int = 100) -> int:
    """Deliver up to `limit` pending messages this dispatcher claims; returns how
    many were delivered."""
    release_stale_claims(engine, datetime.now(UTC))
    with session(engine) as s:
        ids = s.exec(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending")
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        ).all()
    delivered = 0
    for row_id in ids:
        if row_id is None or not claim(engine, row_id, datetime.now(UTC)):
            continue  # another dispatcher has it
        with session(engine) as s:
            row = s.get(OutboxMessage, row_id)
            assert row is not None  # rows are never deleted
            try:
                channel.deliver(row)
                row.status, row.delivered_at = "sent", datetime.now(UTC)
                delivered += 1
            except Exception as err:  # noqa: BLE001 (a channel failure must not stop the others)
                row.last_error = f"{type(err).__name__}: {err}"[:500]
                row.status = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
                log.warning("outbox delivery of %s failed: %s", row.idempotency_key, err)
            s.add(row)
            s.commit()
    return delivered


async def run_dispatcher(engine: Engine, spec: str, interval_s: float = 0.5) -> None:
    """Deliver pending messages until cancelled."""
    channel = make_channel(spec)
    if channel is None:
        return
    while True:
        await asyncio.to_thread(deliver_pending, engine, channel)
        await asyncio.sleep(interval_s)
