"""What became of a queued message, told to the workflow that sent it.

The outbox dispatcher delivers; after each pass `report_outcomes` tells each
sending workflow about its messages that failed for good (and those it asked to
hear about), queues an alert to the account's owner for every failure, and
audits it. Nothing is lost on a crash: a row is marked reported only once the
workflow was told, and the alert and audit rows are keyed, so telling again is
harmless. The workflow believes only the outbox (`delivery_status`), never the
signal's word.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, or_, select, update
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.records import queue_message, write_audit
from adapters.delivery import Delivery, run_dispatcher
from context.db import session
from context.queries import NotFound, account_facts
from context.tables import OutboxMessage
from contracts import names
from contracts.records import AuditEntry, DeliveryNews, DeliveryStatus, OutboundMessage

log = logging.getLogger("csops.outbox")
ALERT_SUFFIX = "/delivery-failed"


def delivery_status(engine: Engine, key: str) -> DeliveryStatus:
    with session(engine) as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
    if row is None:
        return DeliveryStatus(idempotency_key=key, status="unknown")
    return DeliveryStatus(
        idempotency_key=key,
        status=row.status,
        to=row.to,
        subject=row.subject,
        last_error=row.last_error,
    )


class DeliveryActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="delivery_status")
    def delivery_status(self, inp: DeliveryNews) -> DeliveryStatus:
        """The outbox's word on one message (read-only)."""
        return delivery_status(self._engine, inp.idempotency_key)


def _unreported(engine: Engine, limit: int = 100) -> list[OutboxMessage]:
    with session(engine) as s:
        return list(
            s.exec(
                select(OutboxMessage)
                .where(
                    col(OutboxMessage.reported_at).is_(None),
                    or_(
                        col(OutboxMessage.status) == "failed",
                        (col(OutboxMessage.status) == "sent") & col(OutboxMessage.confirm),
                    ),
                )
                .order_by(col(OutboxMessage.id))
                .limit(limit)
            ).all()
        )


def _alert_failure(engine: Engine, row: OutboxMessage, on_call: str) -> None:
    """An audit row, and an alert to whoever owns the account (on-call when the
    failed message was the owner's own, or belongs to no account). A failed alert
    is audited and logged, never alerted about again."""
    now = datetime.now(UTC)
    key = row.idempotency_key + ALERT_SUFFIX
    write_audit(
        engine,
        AuditEntry(
            idempotency_key=key,
            at=now,
            workflow_id=row.workflow_id,
            account_id=row.account_id,
            actor="outbox",
            action="delivery",
            outcome="failed",
            detail={"to": row.to, "subject": row.subject, "error": row.last_error},
        ),
    )
    if row.idempotency_key.endswith(ALERT_SUFFIX):
        log.error("alert %s could not be delivered: %s", row.idempotency_key, row.last_error)
        return
    try:
        with session(engine) as s:
            owner = account_facts(s, row.account_id).owner_csm
    except NotFound:
        owner = on_call
    to = on_call if owner in row.to.split(",") else owner
    queue_message(
        engine,
        OutboundMessage(
            idempotency_key=key,
            workflow_id=row.workflow_id,
            account_id=row.account_id,
            audience="internal",
            to=[to],
            subject=f"[csops] Not delivered: {row.subject}",
            body=(
                f"A {row.audience} message from {row.workflow_id} could not be delivered "
                f"to {row.to} after {row.attempts} attempt(s).\n\n"
                f"Subject: {row.subject}\nLast error: {row.last_error}\n\n"
                f"Fix the address or the channel, then: csops outbox --retry {row.id}\n"
            ),
            created_at=now,
        ),
    )


def _mark_reported(engine: Engine, row_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == row_id)
            .values(reported_at=datetime.now(UTC))
        )


async def _tell(client: Client, row: OutboxMessage) -> bool:
    """Signal the sending workflow; True once nobody is left to tell (it was told, it
    has closed, or the row belongs to no workflow)."""
    try:
        await client.get_workflow_handle(row.workflow_id).signal(
            names.DELIVERY_OUTCOME_SIGNAL, DeliveryNews(idempotency_key=row.idempotency_key)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # closed, or never a workflow
            return True
        log.warning("could not tell %s about %s: %s", row.workflow_id, row.idempotency_key, err)
        return False
    return True


async def report_outcomes(engine: Engine, client: Client, on_call: str) -> int:
    """Tell each sending workflow what became of its messages; returns how many."""
    told = 0
    for row in await asyncio.to_thread(_unreported, engine):
        if row.status == "failed":
            await asyncio.to_thread(_alert_failure, engine, row, on_call)
        if await _tell(client, row):
            assert row.id is not None  # stored rows have their id
            await asyncio.to_thread(_mark_reported, engine, row.id)
            told += 1
    return told


async def run_outbox(
    engine: Engine,
    client: Client,
    delivery: Delivery | str,
    on_call: str,
    interval_s: float = 0.5,
) -> None:
    """The outbox as `csops worker` runs it: deliver each audience's messages through
    its channel (a spec alone: every audience through one), then tell the sending
    workflows what became of their messages; until cancelled."""
    await run_dispatcher(
        engine, delivery, interval_s, after_pass=lambda: report_outcomes(engine, client, on_call)
    )
