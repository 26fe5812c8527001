"""Outbox and audit writes. Both are idempotent on their key, so a retried
activity or a replayed workflow never writes (or sends) twice."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from temporalio import activity

from activities.errors import permanent_not_found
from adapters.templates import render_for_activity
from context.queries import set_ticket_status
from context.tables import AuditEvent, OutboxMessage
from contracts.escalation import HotTicketRecords
from contracts.records import AuditEntry, OutboundMessage, OutboxReceipt, RenderInput

# The writes are single Core statements, not ORM units of work: they run for every
# step of every workflow, and the ORM's flush and instance loading cost the worker
# 2-3 times the statement itself (hot-ticket benchmark, bench/hot_ticket.py).


def _audit_values(entry: AuditEntry) -> dict:
    return {
        **entry.model_dump(exclude={"autonomy"}),
        "autonomy": entry.autonomy.value if entry.autonomy else None,
    }


def _message_values(msg: OutboundMessage) -> dict:
    return {
        **msg.model_dump(exclude={"to", "body", "template", "values"}),
        "to": ",".join(msg.to),
        "body": render_for_activity(msg.template, **msg.values) if msg.template else msg.body,
    }


def write_audit(engine: Engine, entry: AuditEntry, **extra) -> bool:
    """Insert one audit event; False when its key was already recorded."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(AuditEvent), {**_audit_values(entry), **extra})
    except IntegrityError:
        return False
    return True


def _queued_id(conn: Connection, key: str) -> int | None:
    return conn.execute(
        select(col(OutboxMessage.id)).where(col(OutboxMessage.idempotency_key) == key)
    ).scalar()


def _queue(conn: Connection, msg: OutboundMessage) -> OutboxReceipt:
    """In the caller's transaction: the message's row, inserted unless its key is there."""
    existing = _queued_id(conn, msg.idempotency_key)
    if existing is not None:
        return OutboxReceipt(message_id=existing, duplicate=True)
    message_id = conn.execute(
        insert(OutboxMessage).returning(col(OutboxMessage.id)), _message_values(msg)
    ).scalar_one()
    return OutboxReceipt(message_id=message_id, duplicate=False)


def queue_message(engine: Engine, msg: OutboundMessage) -> OutboxReceipt:
    """Insert the message unless its idempotency key is already in the outbox."""
    try:
        with engine.begin() as conn:
            return _queue(conn, msg)
    except IntegrityError:
        # A concurrent attempt won the race: same key, same message.
        with engine.connect() as conn:
            existing = _queued_id(conn, msg.idempotency_key)
        assert existing is not None  # the row that won the race
        return OutboxReceipt(message_id=existing, duplicate=True)


def record_hot_ticket(engine: Engine, records: HotTicketRecords) -> None:
    """The notification, its audit rows and the ticket's status in one transaction:
    all or none. What a previous attempt committed is skipped (its keys are there);
    a concurrent attempt that commits first makes this one fail and retry, and the
    retry finds everything written."""
    with engine.begin() as conn:
        _queue(conn, records.message)
        keys = [a.idempotency_key for a in records.audits]
        written = set(
            conn.execute(
                select(col(AuditEvent.idempotency_key)).where(
                    col(AuditEvent.idempotency_key).in_(keys)
                )
            ).scalars()
        )
        new = [_audit_values(a) for a in records.audits if a.idempotency_key not in written]
        if new:
            conn.execute(insert(AuditEvent), new)
        status = records.status
        set_ticket_status(conn, status.ticket_id, status.status, status.answer, status.source)


class RecordActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="send_message")
    def send_message(self, msg: OutboundMessage) -> OutboxReceipt:
        """Queue a message in the outbox; a channel delivers it (see outbox_delivery)."""
        return queue_message(self._engine, msg)

    @activity.defn(name="record_hot_ticket")
    def record_hot_ticket(self, records: HotTicketRecords) -> None:
        """A hot ticket's notification, audit rows and status, written at once."""
        with permanent_not_found():
            record_hot_ticket(self._engine, records)

    @activity.defn(name="render_message")
    def render_message(self, inp: RenderInput) -> str:
        """Render a message template (workflows do no file I/O)."""
        return render_for_activity(inp.template, **inp.values)

    @activity.defn(name="record_audit")
    def record_audit(self, entry: AuditEntry) -> bool:
        return write_audit(self._engine, entry)
