"""Outbox and audit writes. Both are idempotent on their key, so a retried
activity or a replayed workflow never writes (or sends) twice."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from context.db import session
from context.tables import AuditEvent, OutboxMessage
from csops.models import AuditEntry, OutboundMessage, OutboxReceipt
from csops.templates import render_for_activity


def write_audit(engine: Engine, entry: AuditEntry, **extra) -> bool:
    """Insert one audit event; False when its key was already recorded."""
    row = AuditEvent(
        idempotency_key=entry.idempotency_key,
        at=entry.at,
        workflow_id=entry.workflow_id,
        account_id=entry.account_id,
        actor=entry.actor,
        action=entry.action,
        outcome=entry.outcome,
        autonomy=entry.autonomy.value if entry.autonomy else None,
        policy_rule=entry.policy_rule,
        policy_version=entry.policy_version,
        engine=entry.engine,
        detail=entry.detail,
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


class RenderInput(BaseModel):
    template: str
    values: dict


class RecordActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="send_message")
    def send_message(self, msg: OutboundMessage) -> OutboxReceipt:
        """Queue a message in the outbox; a channel delivers it (see outbox_delivery)."""
        with session(self._engine) as s:
            existing = s.exec(
                select(OutboxMessage).where(OutboxMessage.idempotency_key == msg.idempotency_key)
            ).first()
            if existing:
                return OutboxReceipt(message_id=existing.id, duplicate=True)
            row = OutboxMessage(
                idempotency_key=msg.idempotency_key,
                workflow_id=msg.workflow_id,
                account_id=msg.account_id,
                audience=msg.audience,
                channel=msg.channel,
                to=",".join(msg.to),
                subject=msg.subject,
                body=render_for_activity(msg.template, **msg.values) if msg.template else msg.body,
                engine=msg.engine,
                sampled_for_review=msg.sampled_for_review,
                created_at=msg.created_at,
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                # A concurrent attempt won the race: same key, same message.
                s.rollback()
                existing = s.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.idempotency_key == msg.idempotency_key
                    )
                ).one()
                return OutboxReceipt(message_id=existing.id, duplicate=True)
            return OutboxReceipt(message_id=row.id, duplicate=False)

    @activity.defn(name="render_message")
    def render_message(self, inp: RenderInput) -> str:
        """Render a message template (workflows do no file I/O)."""
        return render_for_activity(inp.template, **inp.values)

    @activity.defn(name="record_audit")
    def record_audit(self, entry: AuditEntry) -> bool:
        return write_audit(self._engine, entry)
