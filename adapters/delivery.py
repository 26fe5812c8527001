"""Delivery of queued outbox messages through a channel.

Activities only *queue* messages (idempotently); dispatchers deliver them, so a
retried activity can never send twice and a crash loses nothing: whatever is
still `pending` is delivered on the next pass. Each row is claimed atomically
before it is handed to a channel, so any number of workers on one database
deliver each message once (see `release_stale_claims` for the one crash window).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mailbox
import re
import smtplib
import ssl
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from sqlalchemy.engine import Engine
from sqlmodel import col, select, update

from adapters.channel_specs import DEFAULT_OPTIONS, SENDER, ChannelOptions, spec_problem
from adapters.channels import SlackChannel, UndeliverableError, WebhookChannel
from context.db import session
from context.tables import OutboxMessage, table
from policies.addresses import email_address

log = logging.getLogger("csops.outbox")
AUDIENCES = ("customer", "internal")  # contracts.records.OutboundMessage.audience
__all__ = ["UndeliverableError"]  # raised by every channel (adapters/channels.py)


def checked_address(address: str) -> str:
    """One email address, normalized (e.g. an IDN domain in ASCII).

    Raises:
        UndeliverableError: not a single valid address, said in one sentence
            (`"a@x, b@evil.test"` is two addresses, not one).
    """
    try:
        return email_address(address)
    except ValueError as err:
        raise UndeliverableError(str(err)) from None


def header_text(value: str) -> str:
    """A header value with no line breaks or other control characters: a CR/LF in a
    ticket subject must not break (or inject into) the message's headers."""
    return " ".join(CONTROL_CHARS.sub(" ", value).split())


CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


def message_id(idempotency_key: str) -> str:
    """The Message-ID: the idempotency key in characters a Message-ID allows (any
    ticket id, any length), so receivers can drop a crash-window duplicate."""
    local = quote(idempotency_key.replace("/", "."), safe="")
    if len(local) > 200:  # keep the header short; the key's digest is as unique
        local = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return f"<{local}@csops.test>"


def to_email(row: OutboxMessage, sender: str = SENDER) -> EmailMessage:
    """The row as an email from `sender`.

    Raises:
        UndeliverableError: a recipient is not a valid address.
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(checked_address(a) for a in row.to.split(",") if a.strip())
    msg["Subject"] = header_text(row.subject)
    msg["Message-ID"] = message_id(row.idempotency_key)
    msg["X-Csops-Workflow"] = header_text(row.workflow_id)
    msg["X-Csops-Audience"] = row.audience
    if row.engine:
        msg["X-Csops-Engine"] = header_text(row.engine)
    msg.set_content(row.body)
    return msg


class MaildirChannel:
    def __init__(self, path: str, sender: str = SENDER) -> None:
        self._sender = sender
        # Maildir(create=True) makes tmp/new/cur only for a folder it creates itself.
        for sub in ("tmp", "new", "cur"):
            (Path(path) / sub).mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(path, create=False)

    def deliver(self, row: OutboxMessage) -> str | None:
        self._box.add(to_email(row, self._sender))
        return None


class SmtpChannel:
    """One SMTP server; with `starttls` the session is encrypted (the server's
    certificate checked against the system's CAs, or `ca_file`) before anything
    else, the login included."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str = SENDER,
        starttls: bool = False,
        login: tuple[str, str] | None = None,
        ca_file: str | None = None,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._tls = ssl.create_default_context(cafile=ca_file) if starttls else None
        self._login = login

    def deliver(self, row: OutboxMessage) -> str | None:
        """Raises UndeliverableError when the server refuses every recipient for
        good (5xx); returns what it refused when it took the message for others."""
        try:
            with smtplib.SMTP(self._host, self._port, timeout=10) as smtp:
                if self._tls is not None:
                    smtp.starttls(context=self._tls)
                if self._login is not None:
                    smtp.login(*self._login)
                refused = smtp.send_message(to_email(row, self._sender))
        except smtplib.SMTPRecipientsRefused as err:
            if all(code >= 500 for code, _ in err.recipients.values()):
                raise UndeliverableError(
                    f"refused by the mail server: {_refusals(err.recipients)}"
                ) from None
            raise
        return f"refused for some recipients: {_refusals(refused)}" if refused else None


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{a}: {code} {text.decode(errors='replace')}" for a, (code, text) in refused.items()
    )


def make_channel(spec: str, options: ChannelOptions = DEFAULT_OPTIONS):
    """The channel `spec` names (see SPECS); None for `none` (messages stay queued).

    Raises:
        ValueError: the spec names no usable channel (said in one sentence).
    """
    problem = spec_problem(spec, options)
    if problem:
        raise ValueError(problem)
    kind, _, rest = spec.partition(":")
    if spec == "none":
        return None
    if kind == "maildir":
        return MaildirChannel(rest, options.sender)
    if kind == "slack":
        return SlackChannel(rest, options.ui_url, options.namespace)
    if kind == "webhook":
        assert options.webhook_secret  # spec_problem said so otherwise
        return WebhookChannel(rest, options.webhook_secret, options.ui_url, options.namespace)
    url = urlparse(spec)
    return SmtpChannel(
        url.hostname or "localhost",
        url.port or 25,
        sender=options.sender,
        starttls=options.smtp_starttls,
        login=options.smtp_login,
        ca_file=options.smtp_ca_file,
    )


Route = tuple[Any, tuple[str, ...] | None]


@dataclass(frozen=True)
class Delivery:
    """Which channel each audience's messages go through: `by_audience`, else
    `default`. An audience routed to `none` stays queued."""

    default: str
    by_audience: Mapping[str, str] = field(default_factory=dict)
    options: ChannelOptions = DEFAULT_OPTIONS

    def routes(self) -> list[Route]:
        """(channel, the audiences it delivers; None: every audience), one per
        distinct spec, the audiences routed to `none` left out."""
        specs = {a: self.by_audience.get(a, self.default) for a in AUDIENCES}
        if len(set(specs.values())) == 1:
            only = make_channel(specs[AUDIENCES[0]], self.options)
            return [] if only is None else [(only, None)]
        routes: list[Route] = []
        for spec in dict.fromkeys(specs.values()):
            channel = make_channel(spec, self.options)
            if channel is not None:
                routes.append((channel, tuple(a for a, s in specs.items() if s == spec)))
        return routes


# A claim older than this is a dispatcher that died mid-delivery: the row goes back
# to pending. Far above the SMTP timeout, so a live delivery is never taken over.
CLAIM_LEASE = timedelta(minutes=5)
OUTBOX_COLUMNS = list(table(OutboxMessage).columns)
MAX_ATTEMPTS = 10


def claim(engine: Engine, now: datetime, limit: int = 100, skip: Collection[int] = ()) -> list[int]:
    """Take up to `limit` pending rows for delivery (but those in `skip`), oldest
    first, in one conditional UPDATE: of any number of dispatchers (threads,
    processes, machines) on one database, exactly one gets each row (a row taken
    meanwhile fails the `status = 'pending'` check and is not returned)."""
    return sorted(row.id for row in _claim_rows(engine, now, limit, skip) if row.id is not None)


def _claim_rows(
    engine: Engine,
    now: datetime,
    limit: int,
    skip: Collection[int],
    audiences: Collection[str] | None = None,
) -> list[OutboxMessage]:
    """`claim` (of the rows for `audiences` only, when given), returning the claimed
    rows as they are after the claim."""
    pending = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", col(OutboxMessage.id).not_in(skip))
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    if audiences is not None:
        pending = pending.where(col(OutboxMessage.audience).in_(audiences))
    with engine.begin() as conn:
        taken = conn.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(pending), col(OutboxMessage.status) == "pending")
            .values(status="sending", claimed_at=now, attempts=col(OutboxMessage.attempts) + 1)
            .returning(*OUTBOX_COLUMNS)
        )
        return [OutboxMessage.model_validate(dict(row)) for row in taken.mappings()]


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


def deliver_pending(
    engine: Engine, channel, limit: int = 100, audiences: Collection[str] | None = None
) -> int:
    """Deliver up to `limit` pending messages (for `audiences` only, when given),
    claiming each one just before it is handed to the channel; returns how many
    were delivered.

    One claim per message, not per batch: a dispatcher killed mid-pass holds back
    only the message in its hands until the lease runs out, never the rest of a
    batch (a hot ticket's notification among them).
    """
    release_stale_claims(engine, datetime.now(UTC))
    delivered = 0
    # A message that failed (and went back to pending) waits for the next pass; the
    # ones sent are no longer pending, so the claim's statement stays the same.
    failed: list[int] = []
    for _ in range(limit):
        taken = _claim_rows(engine, datetime.now(UTC), limit=1, skip=failed, audiences=audiences)
        if not taken:
            break
        row = taken[0]
        assert row.id is not None  # stored rows have their id
        outcome: dict[str, object]
        try:
            # Sent, even when the server refused some recipients (sending again would
            # reach the others twice); the refusal is kept as the row's last error.
            outcome = {
                "last_error": channel.deliver(row),
                "status": "sent",
                "delivered_at": datetime.now(UTC),
            }
            delivered += 1
        except Exception as err:  # noqa: BLE001 (a channel failure must not stop the others)
            final = row.attempts >= MAX_ATTEMPTS or isinstance(err, UndeliverableError)
            outcome = {
                "last_error": f"{type(err).__name__}: {err}"[:500],
                "status": "failed" if final else "pending",
            }
            log.warning("outbox delivery of %s failed: %s", row.idempotency_key, err)
            failed.append(row.id)
        # Each outcome at once (one UPDATE): the resend window stays one message wide.
        with engine.begin() as conn:
            conn.execute(
                update(OutboxMessage).where(col(OutboxMessage.id) == row.id).values(outcome)
            )
    return delivered


def recent_messages(
    engine: Engine, failed_only: bool = False, limit: int = 50
) -> list[OutboxMessage]:
    """The newest outbox rows (only the failed ones with `failed_only`)."""
    with session(engine) as s:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
        if failed_only:
            query = query.where(OutboxMessage.status == "failed")
        return list(s.exec(query).all())


def retry_message(engine: Engine, row_id: int) -> OutboxMessage:
    """Put a failed message back in the queue, with a fresh count of attempts.

    Raises:
        LookupError: no such message, or it has not failed (said in one sentence).
    """
    with session(engine) as s:
        row = s.get(OutboxMessage, row_id)
        if row is None:
            raise LookupError(f"no outbox message {row_id}")
        if row.status != "failed":
            raise LookupError(
                f"outbox message {row_id} is {row.status}, not failed: nothing to retry"
            )
        row.status, row.attempts = "pending", 0
        s.add(row)
        s.commit()
        s.refresh(row)
        return row


def deliver_routes(engine: Engine, routes: list[Route]) -> int:
    """One pass: each audience's pending messages through its channel
    (`Delivery.routes`); returns how many were delivered."""
    return sum(deliver_pending(engine, channel, audiences=only) for channel, only in routes)


async def run_dispatcher(
    engine: Engine,
    delivery: Delivery | str,
    interval_s: float = 0.5,
    after_pass: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Deliver pending messages until cancelled (a spec alone is every audience
    through one channel); `after_pass` runs after each pass (the worker tells
    sending workflows what became of their messages)."""
    routes = (delivery if isinstance(delivery, Delivery) else Delivery(delivery)).routes()
    if not routes:
        return
    while True:
        await asyncio.to_thread(deliver_routes, engine, routes)
        if after_pass:
            await after_pass()
        await asyncio.sleep(interval_s)
