"""Delivery of queued outbox messages through a channel.

Activities only *queue* messages (idempotently); this dispatcher delivers them,
so a retried activity can never send twice and a crash loses nothing: whatever
is still `pending` is delivered on the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.engine import Engine
from sqlmodel import col, select

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


def deliver_pending(engine: Engine, channel, limit: int = 100) -> int:
    """Deliver up to `limit` pending messages; returns how many were delivered."""
    delivered = 0
    with session(engine) as s:
        rows = s.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        ).all()
        for row in rows:
            row.attempts += 1
            try:
                channel.deliver(row)
                row.status, row.delivered_at = "sent", datetime.now(UTC)
                delivered += 1
            except Exception as err:  # noqa: BLE001 (a channel failure must not stop the others)
                row.last_error = f"{type(err).__name__}: {err}"[:500]
                row.status = "failed" if row.attempts >= 10 else "pending"
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
