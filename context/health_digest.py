"""What the weekly health digest tells each CSM about their book: every account
they own with its stored health now and a week earlier, and the risks and plays
the agents recorded in the audit log during the week. Pure reads, no Temporal."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Subquery, and_, func, select
from sqlmodel import Session

from context.tables import Account, AuditEvent, HealthScore, table
from contracts.health_digest import WEEK

# The audit actions of the Risk and Growth agents (the policy's action kinds, plus
# the internal ticket opened on the webhook and the task asked of the CSM).
RISKS_AND_PLAYS = (
    "usage_anomaly_alert",
    "health_summary",
    "expansion_play",
    "internal_ticket",
    "csm_task",
)
ACCOUNTS, SCORES, AUDIT = table(Account), table(HealthScore), table(AuditEvent)


@dataclass(frozen=True)
class BookLine:
    """One account of a CSM's book: its latest stored score on or before the digest's
    day, and the latest one on or before the day a week earlier (None: none stored)."""

    account_id: str
    name: str
    score: int | None
    band: str | None
    scored_on: date | None
    previous: int | None
    previous_on: date | None

    @property
    def movement(self) -> int | None:
        """Points gained (or lost) over the week; None for an account new to scoring."""
        if self.score is None or self.previous is None:
            return None
        return self.score - self.previous

    def rank(self) -> tuple:
        """Worst health first, ties by name; accounts not scored yet last."""
        return (self.score is None, self.score or 0, self.name, self.account_id)


@dataclass(frozen=True)
class WeekEvent:
    """A risk or play the audit log recorded for one of the CSM's accounts."""

    at: datetime
    account_id: str
    account_name: str
    action: str
    outcome: str
    actor: str
    workflow_id: str
    reason: str


@dataclass
class CsmBook:
    lines: list[BookLine] = field(default_factory=list)
    events: list[WeekEvent] = field(default_factory=list)


def _latest_score(on_or_before: date) -> Subquery:
    """Per account, its stored score of the latest day on or before `on_or_before`."""
    day = (
        select(SCORES.c.account_id, func.max(SCORES.c.as_of).label("as_of"))
        .where(SCORES.c.as_of <= on_or_before)
        .group_by(SCORES.c.account_id)
        .subquery()
    )
    return (
        select(SCORES.c.account_id, SCORES.c.score, SCORES.c.band, SCORES.c.as_of)
        .join(day, and_(SCORES.c.account_id == day.c.account_id, SCORES.c.as_of == day.c.as_of))
        .subquery()
    )


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; csops stores them in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def health_books(s: Session, as_of: date, since: datetime, until: datetime) -> dict[str, CsmBook]:
    """Per CSM (lower-case address), their book sorted by `BookLine.rank` and the risks
    and plays recorded at or after `since` and before `until`, oldest first.

    Two queries, whatever the size of the book.
    """
    now, before = _latest_score(as_of), _latest_score(as_of - WEEK)
    rows = s.connection().execute(
        select(
            ACCOUNTS.c.id,
            ACCOUNTS.c.name,
            ACCOUNTS.c.owner_csm,
            now.c.score,
            now.c.band,
            now.c.as_of,
            before.c.score.label("previous"),
            before.c.as_of.label("previous_on"),
        )
        .outerjoin(now, now.c.account_id == ACCOUNTS.c.id)
        .outerjoin(before, before.c.account_id == ACCOUNTS.c.id)
    )
    books: defaultdict[str, CsmBook] = defaultdict(CsmBook)
    for r in rows:
        books[r.owner_csm.lower()].lines.append(
            BookLine(r.id, r.name, r.score, r.band, r.as_of, r.previous, r.previous_on)
        )
    for book in books.values():
        book.lines.sort(key=BookLine.rank)
    events = s.connection().execute(
        select(AUDIT, ACCOUNTS.c.name.label("account_name"), ACCOUNTS.c.owner_csm)
        .join(ACCOUNTS, ACCOUNTS.c.id == AUDIT.c.account_id)
        .where(AUDIT.c.action.in_(RISKS_AND_PLAYS), AUDIT.c.at >= since, AUDIT.c.at < until)
        .order_by(AUDIT.c.at, AUDIT.c.id)
    )
    for e in events:
        books[e.owner_csm.lower()].events.append(
            WeekEvent(
                at=_utc(e.at),
                account_id=e.account_id,
                account_name=e.account_name,
                action=e.action,
                outcome=e.outcome,
                actor=e.actor,
                workflow_id=e.workflow_id,
                reason=str((e.detail or {}).get("reason", "")),
            )
        )
    return dict(books)
