"""Outbox and audit writes. Both are idempotent on their key, so a retried
activity or a replayed workflow never writes (or sends) twice."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from temporalio import activity

from adapters.templates import render_for_activity
from context.tables import AuditEvent, OutboxMessage
from contracts.records import AuditEntry, OutboundMessage, OutboxReceipt, RenderInput

# Both writes are single Core statements, not ORM units of work: they run for every
# step of every workflow, and the ORM's flush and instance loading cost the worker
# 2-3 times the statement itself (hot-ticket benchmark, bench/hot_ticket.py).


def write_audit(engine: Engine, entry: AuditEntry, **extra) -> bool:
    """Insert one audit event; False when its key was already recorded."""
    values = {
        **entry.model_dump(exclude={"autonomy"}),
        "autonomy": entry.autonomy.value if entry.autonomy else None,
        **extra,
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(AuditEvent), values)
    except IntegrityError:
        return False
    return True


def _queued_id(engine: Engine, key: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(
            select(col(OutboxMessage.id)).where(col(OutboxMessage.idempotency_key) == key)
        ).scalar()


def queue_message(engine: Engine, msg: OutboundMessage) -> OutboxReceipt:
    """Insert the message unless its idempotency key is already in the outbox."""
    existing = _queued_id(engine, msg.idempotency_key)
    if existing is not None:
        return OutboxReceipt(message_id=existing, duplicate=True)
    values = {
        **msg.model_dump(exclude={"to", "body", "template", "values"}),
        "to": ",".join(msg.to),
        "body": render_for_activity(msg.template, **msg.values) if msg.template else msg.body,
    }
    try:
        with engine.begin() as conn:
            message_id = conn.execute(
                insert(OutboxMessage).returning(col(OutboxMessage.id)), values
            ).scalar_one()
    except IntegrityError:
        # A concurrent attempt won the race: same key, same message.
        existing = _queued_id(engine, msg.idempotency_key)
        assert existing is not None  # the row that won the race
        return OutboxReceipt(message_id=existing, duplicate=True)
    return OutboxReceipt(message_id=message_id, duplicate=False)


class RecordActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="send_message")
    def send_message(self, msg: OutboundMessage) -> OutboxReceipt:
        """Queue a message in the outbox; a channel delivers it (see outbox_delivery)."""
        return queue_message(self._engine, msg)

    @activity.defn(name="render_message")
    def render_message(self, inp: RenderInput) -> str:
        """Render a message template (workflows do no file I/O)."""
        return render_for_activity(inp.template, **inp.values)

    @activity.defn(name="record_audit")
    def record_audit(self, entry: AuditEntry) -> bool:
        return write_audit(self._engine, entry)
