"""The account watch's outside work: the internal ticket the Risk agent opens on
the tracker's webhook for a dip (an NPS detractor, a worse band), once per dip."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.ticket_webhook import TicketWebhook, issue_for
from context.db import session
from context.tables import InternalTicket
from contracts import errors
from contracts.health import InternalTicketInput, InternalTicketResult

NO_WEBHOOK = "no ticket webhook is configured (CSOPS_TICKET_WEBHOOK_URL)"


def _recorded(s: Session, dip_key: str) -> InternalTicket | None:
    return s.exec(select(InternalTicket).where(InternalTicket.dip_key == dip_key)).first()


def _result(row: InternalTicket, opened: bool, reason: str = "") -> InternalTicketResult:
    return InternalTicketResult(
        dip_key=row.dip_key,
        opened=opened,
        external_id=row.external_id,
        url=row.url,
        reason=reason,
    )


class WatchActivities:
    """Synchronous DB and HTTP work; the worker runs it on its thread pool. Without a
    webhook (`None`), tickets are not opened and the result says so."""

    def __init__(self, engine: Engine, webhook: TicketWebhook | None) -> None:
        self._engine = engine
        self._webhook = webhook

    @activity.defn(name="open_internal_ticket")
    def open_internal_ticket(self, inp: InternalTicketInput) -> InternalTicketResult:
        """Open the dip's internal ticket and record it (InternalTicket).

        Idempotent by the dip key: a dip recorded before is returned as it is
        (opened=False), without a POST. The POST carries the dip key as its
        Idempotency-Key, for the one window where it can go out twice (POSTed, then
        the worker died before the record). An HTTP error fails the activity and
        records nothing: a 5xx or no answer is retried, a 4xx the request caused is
        not (adapters/ticket_webhook.py).
        """
        key = inp.dip_key
        with session(self._engine) as s:
            row = _recorded(s, key)
        if row is not None:
            return _result(row, opened=False, reason=f"opened before as {row.external_id}")
        if self._webhook is None:
            return InternalTicketResult(dip_key=key, opened=False, reason=NO_WEBHOOK)
        created = self._webhook.open_issue(issue_for(inp), key)
        row = InternalTicket(
            dip_key=key,
            account_id=inp.health.account_id,
            external_id=created.external_id,
            url=created.url,
            opened_at=datetime.now(UTC),
            workflow_id=inp.workflow_id,
        )
        with session(self._engine) as s:
            s.add(row)
            try:
                s.commit()
            except IntegrityError as err:
                # Another run of the same dip recorded it first: theirs stands (the
                # tracker dropped our POST by its Idempotency-Key, or holds both).
                s.rollback()
                kept = _recorded(s, key)
                if kept is None:  # not a duplicate: the account is gone
                    raise ApplicationError(
                        f"cannot record the internal ticket {created.external_id}: {err.orig}",
                        type=errors.INTEGRITY_ERROR,
                        non_retryable=True,
                    ) from err
                return _result(kept, opened=False, reason=f"opened meanwhile as {kept.external_id}")
        return _result(row, opened=True)
