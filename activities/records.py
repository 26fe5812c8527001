"""Outbox and audit writes. Both are idempotent on their key, so a retried
activity or a replayed workflow never writes (or sends) twice."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio import activity

from adapters.templates import render_for_activity
from context.db import session
from context.tables import AuditEvent, OutboxMessage
from contracts.records import AuditEntry, OutboundMessage, OutboxReceipt, RenderInput


def write_audit(engine: Engine, entry: AuditEntry, **extra) -> bool:
    """Insert one audit event; False when its key was already recorded."""
    row = AuditEvent(
        **entry.model_dump(exclude={"autonomy"}),
        autonomy=entry.autonomy.value if entry.autonomy else None,
        **extra,
    )
    with session(engine) as s:
        s.add(row)
        try:
            s.commit()
            return True
        except IntegrityError:
            s.rollback()
            return False


def _outbox_row(s: Session, key: str) -> OutboxMessage | None:
    return s.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()


def _receipt(row: OutboxMessage, duplicate: bool) -> OutboxReceipt:
    assert row.id is not None  # stored rows have their id
    return OutboxReceipt(message_id=row.id, duplicate=duplicate)


def queue_message(engine: Engine, msg: OutboundMessage) -> OutboxReceipt:
    """Insert the message unless its idempotency key is already in the outbox."""
    with session(engine) as s:
        existing = _outbox_row(s, msg.idempotency_key)
        if existing:
            return _receipt(existing, duplicate=True)
        row = OutboxMessage(
            **msg.model_dump(exclude={"to", "body", "template", "values"}),
            to=",".join(msg.to),
            body=render_for_activity(msg.template, **msg.values) if msg.template else msg.body,
        )
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            # A concurrent attempt won the race: same key, same message.
            s.rollback()
            existing = _outbox_row(s, msg.idempotency_key)
            assert existing is not None  # the row that won the race
            return _receipt(existing, duplicate=True)
        return _receipt(row, duplicate=False)


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
