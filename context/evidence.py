"""An account's evidence for an investigation: every record of the last `days`
days as one item with a stable id, read from the context database (one query per
table, pure reads).

- usage: per feature and ISO week, the figure per day over the week's days inside
  the window (`usage:<feature>:<YYYY-Www>`; a gauge like active users is a level,
  so a day without a row counts 0 for every feature alike);
- tickets created in the window, open or not (`ticket:<id>`);
- CRM notes, call transcripts and NPS responses of the window (`note:`, `call:`,
  `nps:` and the row id);
- the account's contacts with their sentiment and last touch (`contact:<row id>`);
- the latest health score stored for a day of the window (`health:<as_of>`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from context.queries import account_facts
from context.renewal_sections import (
    CHAMPION_ROLE,
    FEATURE_ORDER,
    contacts_of,
    day_start,
    excerpt,
    label,
)
from context.tables import (
    OPEN_TICKET_STATUSES,
    CallTranscript,
    CrmNote,
    HealthScore,
    Investigation,
    NpsResponse,
    QbrNarrative,
    SupportTicket,
    UsageDaily,
)
from contracts.investigation import Evidence, EvidenceItem

Stored = TypeVar("Stored", Investigation, QbrNarrative)


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _usage(s: Session, account_id: str, since: date, as_of: date) -> list[EvidenceItem]:
    rows = s.exec(
        select(col(UsageDaily.feature), col(UsageDaily.day), func.sum(UsageDaily.value))
        .where(
            UsageDaily.account_id == account_id, UsageDaily.day >= since, UsageDaily.day <= as_of
        )
        .group_by(col(UsageDaily.feature), col(UsageDaily.day))
    ).all()
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for feature, day, value in rows:
        totals[feature][iso_week(day)] += float(value or 0)
    days_in: dict[str, int] = defaultdict(int)  # the window's days in each week
    starts: dict[str, date] = {}
    for n in range((as_of - since).days + 1):
        day = since + timedelta(days=n)
        days_in[iso_week(day)] += 1
        starts.setdefault(iso_week(day), day)
    features = [f for f in FEATURE_ORDER if f in totals] + sorted(set(totals) - set(FEATURE_ORDER))
    items = []
    for feature in features:
        for week, days in days_in.items():
            per_day = round(totals[feature].get(week, 0.0) / days, 2)
            items.append(
                EvidenceItem(
                    id=f"usage:{feature}:{week}",
                    kind="usage",
                    at=starts[week],
                    title=f"{label(feature)}, week {week}",
                    text=f"{per_day:,.2f} {label(feature)} per day over {days} day(s)",
                    figures={"feature": feature, "week": week, "per_day": per_day, "days": days},
                )
            )
    return items


def _tickets(s: Session, account_id: str, since: date, as_of: date) -> list[EvidenceItem]:
    rows = s.exec(
        select(SupportTicket)
        .where(
            SupportTicket.account_id == account_id,
            SupportTicket.created_at >= day_start(since),
            SupportTicket.created_at < day_start(as_of + timedelta(days=1)),
        )
        .order_by(col(SupportTicket.created_at), col(SupportTicket.id))
    ).all()
    return [
        EvidenceItem(
            id=f"ticket:{t.id}",
            kind="ticket",
            at=t.created_at.date(),
            title=f"ticket {t.id} “{t.subject}” ({t.status})",
            text=excerpt(t.body),
            figures={
                "open": t.status in OPEN_TICKET_STATUSES,
                "status": t.status,
                "priority": t.priority,
            },
        )
        for t in rows
    ]


Said = TypeVar("Said", CrmNote, CallTranscript, NpsResponse)


def _in_window(s: Session, model: type[Said], account_id: str, since: date, as_of: date):
    """The account's rows of a table of things said, in the window, oldest first."""
    return s.exec(
        select(model)
        .where(
            col(model.account_id) == account_id,
            col(model.at) >= day_start(since),
            col(model.at) < day_start(as_of + timedelta(days=1)),
        )
        .order_by(col(model.at), col(model.id))
    )


def _said(s: Session, account_id: str, since: date, as_of: date) -> list[EvidenceItem]:
    window = (account_id, since, as_of)
    notes = [
        EvidenceItem(
            id=f"note:{n.id}",
            kind="note",
            at=n.at.date(),
            title=f"CRM note by {n.author}",
            text=excerpt(n.text),
        )
        for n in _in_window(s, CrmNote, *window)
    ]
    calls = [
        EvidenceItem(
            id=f"call:{c.id}",
            kind="call",
            at=c.at.date(),
            title=f"call “{c.title}” ({c.participants})",
            text=excerpt(c.text),
        )
        for c in _in_window(s, CallTranscript, *window)
    ]
    answers = [
        EvidenceItem(
            id=f"nps:{r.id}",
            kind="nps",
            at=r.at.date(),
            title=f"NPS response {r.score}/10 from {r.contact_email}",
            text=excerpt(r.comment),
            figures={"score": r.score, "contact_email": r.contact_email},
        )
        for r in _in_window(s, NpsResponse, *window)
    ]
    return [*notes, *calls, *answers]


def _contacts(s: Session, account_id: str, as_of: date) -> list[EvidenceItem]:
    items = []
    for c in contacts_of(s, account_id):
        since_touch = (as_of - c.last_touch).days if c.last_touch else None
        key = c.is_decision_maker or bool(CHAMPION_ROLE.search(c.role))
        touched = "never touched" if since_touch is None else f"last touched {c.last_touch}"
        items.append(
            EvidenceItem(
                id=f"contact:{c.id}",
                kind="contact",
                at=c.last_touch,
                title=f"{c.name} ({c.role}){', decision maker' if c.is_decision_maker else ''}",
                text=f"sentiment {c.sentiment:+.2f}, influence {c.influence}, {touched}",
                figures={
                    "name": c.name,
                    "email": c.email,
                    "sentiment": c.sentiment,
                    "days_since_touch": since_touch,
                    "key": key,
                },
            )
        )
    return items


def _health(s: Session, account_id: str, since: date, as_of: date) -> list[EvidenceItem]:
    row = s.exec(
        select(HealthScore)
        .where(
            HealthScore.account_id == account_id,
            HealthScore.as_of >= since,
            HealthScore.as_of <= as_of,
        )
        .order_by(col(HealthScore.as_of).desc())
        .limit(1)
    ).first()
    if row is None:
        return []
    weakest = min(row.components, key=lambda c: (c["score"], -c["weight"]), default=None)
    return [
        EvidenceItem(
            id=f"health:{row.as_of.isoformat()}",
            kind="health",
            at=row.as_of,
            title=f"health score {row.score} ({row.band}) as of {row.as_of}",
            text=(
                f"score {row.score}/100, band {row.band}"
                + (
                    f"; weakest component {weakest['name']}: {weakest['summary']}"
                    if weakest
                    else ""
                )
            ),
            figures={"score": row.score, "band": row.band},
        )
    ]


def gather_evidence(s: Session, account_id: str, as_of: date, days: int) -> Evidence:
    """Every evidence item of the `days` days ending at `as_of` (inclusive).

    Raises:
        NotFound: the account is not in the context database.
    """
    facts = account_facts(s, account_id)
    since = as_of - timedelta(days=days - 1)
    items = [
        *_health(s, account_id, since, as_of),
        *_usage(s, account_id, since, as_of),
        *_tickets(s, account_id, since, as_of),
        *_said(s, account_id, since, as_of),
        *_contacts(s, account_id, as_of),
    ]
    return Evidence(account=facts, as_of=as_of, days=days, since=since, items=items)


def stored_row(s: Session, model: type[Stored], workflow_id: str) -> Stored | None:
    """What the workflow run stored (an Investigation or a QbrNarrative), if it did."""
    return s.exec(select(model).where(col(model.workflow_id) == workflow_id)).first()
