"""Reads over the context layer. One query per table, no N+1."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, RowMapping, func, update
from sqlalchemy import select as select_rows
from sqlmodel import Session, col, select

from context.tables import (
    OPEN_TICKET_STATUSES,
    Account,
    Contact,
    HealthScore,
    NpsResponse,
    SupportTicket,
    UsageDaily,
    table,
)
from contracts.accounts import AccountFacts
from contracts.escalation import Ticket, TicketContext


class NotFound(LookupError):
    """The thing asked for is not in the context database (a permanent error)."""


# The reads every workflow makes (an account's facts, a ticket) select plain rows:
# loading ORM instances cost more than the queries themselves (hot-ticket benchmark).
ACCOUNTS, TICKETS, CONTACTS = table(Account), table(SupportTicket), table(Contact)
_PRIMARY_CONTACT = [CONTACTS.c[k] for k in ("account_id", "email", "name", "is_primary")]
_SCORES = table(HealthScore)
# The account's latest stored health score, read in the account's own statement (the
# unique (account_id, as_of) index answers it).
_LATEST_HEALTH = (
    select_rows(_SCORES.c.score)
    .where(_SCORES.c.account_id == ACCOUNTS.c.id)
    .order_by(_SCORES.c.as_of.desc())
    .limit(1)
    .scalar_subquery()
    .label("health")
)


def _facts(account: RowMapping, primary: Row | None) -> AccountFacts:
    return AccountFacts(
        account_id=account["id"],
        **{k: v for k, v in account.items() if k not in ("id", "signed_date")},
        primary_contact_email=primary.email if primary else None,
        primary_contact_name=primary.name if primary else None,
    )


def account_facts(s: Session, account_id: str) -> AccountFacts:
    conn = s.connection()
    account = (
        conn.execute(select_rows(ACCOUNTS, _LATEST_HEALTH).where(ACCOUNTS.c.id == account_id))
        .mappings()
        .first()
    )
    if account is None:
        raise NotFound(f"account {account_id!r} is not in the context database")
    # The primary contact, else the first: picked here from the account's few
    # contacts, which the index returns in id order (ordering by is_primary in SQL
    # sorted them in a temporary B-tree).
    contacts = conn.execute(
        select_rows(*_PRIMARY_CONTACT)
        .where(CONTACTS.c.account_id == account_id)
        .order_by(CONTACTS.c.id)
    ).all()
    primary = next((c for c in contacts if c.is_primary), contacts[0] if contacts else None)
    return _facts(account, primary)


def accounts_facts(s: Session, account_ids: list[str]) -> list[AccountFacts]:
    """Facts of many accounts in two queries (accounts, then their contacts)."""
    if not account_ids:
        return []
    conn = s.connection()
    accounts = conn.execute(
        select_rows(ACCOUNTS, _LATEST_HEALTH)
        .where(ACCOUNTS.c.id.in_(account_ids))
        .order_by(ACCOUNTS.c.id)
    ).mappings()
    primary: dict[str, Row] = {}
    for c in conn.execute(
        select_rows(*_PRIMARY_CONTACT)
        .where(CONTACTS.c.account_id.in_(account_ids))
        .order_by(CONTACTS.c.is_primary.desc(), CONTACTS.c.id)
    ):
        primary.setdefault(c.account_id, c)
    return [_facts(a, primary.get(a["id"])) for a in accounts]


TREND_WINDOW = timedelta(days=28)  # four whole weeks: both windows hold the same weekends


def usage_trend_pct(s: Session, account_id: str, feature: str = "active_users") -> float | None:
    """Change of a feature's usage, last 4 weeks against the 4 before (None without data)."""
    last_day = s.exec(
        select(func.max(UsageDaily.day)).where(UsageDaily.account_id == account_id)
    ).one()
    if last_day is None:
        return None
    split = last_day - TREND_WINDOW
    start = split - TREND_WINDOW
    recent, earlier = s.exec(
        select(
            func.coalesce(func.sum(UsageDaily.value).filter(col(UsageDaily.day) > split), 0),
            func.coalesce(func.sum(UsageDaily.value).filter(col(UsageDaily.day) <= split), 0),
        ).where(
            UsageDaily.account_id == account_id,
            UsageDaily.feature == feature,
            UsageDaily.day > start,
        )
    ).one()
    if not earlier:
        return None
    return round((recent - earlier) / earlier * 100, 1)


def usage_value(
    s: Session, account_id: str, feature: str, measure: str, since: date, until: date
) -> float:
    """One feature's usage over [since, until]: the peak day (`max`) or the total (`sum`)."""
    agg = func.max if measure == "max" else func.sum
    value = s.exec(
        select(func.coalesce(agg(UsageDaily.value), 0)).where(
            UsageDaily.account_id == account_id,
            UsageDaily.feature == feature,
            UsageDaily.day >= since,
            UsageDaily.day <= until,
        )
    ).one()
    return float(value)


TICKET_FIELDS = {"account_id", "subject", "body", "requester_email", "created_at", "priority"}


# What of a ticket travels through workflow histories: enough to read and route it;
# the whole text stays here (a 3 MB ticket once exceeded Temporal's payload limit
# and retried its context pull forever).
MAX_SUBJECT_IN_WORKFLOW = 500
MAX_BODY_IN_WORKFLOW = 20_000


def ticket_of(values: Mapping[Any, Any]) -> Ticket:
    """The ticket (its row's columns) as workflows see it, its text bounded."""
    ticket = Ticket(
        ticket_id=values["id"],
        tags=values["tags"] or [],
        **{k: values[k] for k in TICKET_FIELDS},
    )
    cut = len(ticket.body) - MAX_BODY_IN_WORKFLOW
    if cut > 0:
        ticket.body = (
            ticket.body[:MAX_BODY_IN_WORKFLOW]
            + f"\n[… {cut:,} more characters of this ticket are in the context database]"
        )
    ticket.subject = ticket.subject[:MAX_SUBJECT_IN_WORKFLOW]
    return ticket


def set_ticket_status(
    conn: Connection, ticket_id: str, status: str, answer: str | None, source: str | None
) -> None:
    """Record where the ticket stands, in the caller's transaction (idempotent: the
    same call twice is one change). One UPDATE, not a loaded row: every escalation
    records its status."""
    values: dict[str, object] = {"status": status, "updated_at": datetime.now(UTC)}
    if answer is not None:
        values |= {"answer": answer, "answer_source": source}
    changed = conn.execute(
        update(SupportTicket).where(col(SupportTicket.id) == ticket_id).values(values)
    )
    if changed.rowcount == 0:
        raise NotFound(f"ticket {ticket_id!r} is not in the context database")


def ticket_context(s: Session, ticket_id: str) -> TicketContext:
    row = (
        s.connection()
        .execute(select_rows(TICKETS).where(TICKETS.c.id == ticket_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"ticket {ticket_id!r} is not in the context database")
    account_id = row["account_id"]
    facts = account_facts(s, account_id)
    open_tickets = s.exec(
        select(func.count())
        .select_from(SupportTicket)
        .where(
            SupportTicket.account_id == account_id,
            col(SupportTicket.status).in_(OPEN_TICKET_STATUSES),
        )
    ).one()
    last_nps = s.exec(
        select(NpsResponse.score)
        .where(NpsResponse.account_id == account_id)
        .order_by(col(NpsResponse.at).desc())
        .limit(1)
    ).first()
    return TicketContext(
        ticket=ticket_of(row),
        account=facts,
        open_tickets=open_tickets,
        usage_trend_pct=usage_trend_pct(s, account_id),
        last_nps=last_nps,
    )
