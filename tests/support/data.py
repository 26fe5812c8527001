"""The context database as tests fill and read it, and the people and ticket texts
they use."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import select

from context.db import session
from context.tables import (
    Account,
    AuditEvent,
    Contact,
    KnowledgeArticle,
    OutboxMessage,
    SupportTicket,
)
from csops.tickets import store_ticket
from support.temporal import new_ticket_id

# Every account added here is Jane's, managed by Maria; hot tickets also reach on-call.
CSM, MANAGER, ON_CALL = "jane@acme.test", "maria@acme.test", "oncall@csops.test"

# A plain how-to question: sent alone at a small account, a copilot approval at a big one.
HOW_TO_SUBJECT = "How do I export reports?"
HOW_TO_BODY = "Hi, how do I export a report to CSV or Excel? Thanks!"
HOW_TO = (HOW_TO_SUBJECT, HOW_TO_BODY)
# What a model answers for it: the assessment, and a draft citing the help centre.
HOW_TO_ASSESSMENT = {
    "intent": "how_to",
    "sentiment": 0.2,
    "severity": "low",
    "hot": False,
    "confidence": 0.9,
    "language": "en",
    "reasons": ["asks how to export"],
}
HOW_TO_DRAFT = {
    "subject": f"Re: {HOW_TO_SUBJECT}",
    "body": "Hi Sam, open Reports, pick the report and choose Export > CSV. Jane's team",
    "cited_source_ids": ["article:export-report-csv-en"],
}
# An angry customer: a hot ticket, whatever the account.
HOT_TEXT = "This is unacceptable. Our CEO is furious and we are evaluating other vendors."


def add_account(
    engine,
    account_id: str,
    *,
    arr: float,
    segment: str = "smb",
    top_rank: int = 200,
    stage: str = "adopting",
    name: str | None = None,
) -> None:
    """An account of Jane's with one primary contact, sam@<account_id>.example."""
    with session(engine) as s:
        s.add(
            Account(
                id=account_id,
                name=name or f"{account_id} Inc",
                arr=arr,
                segment=segment,
                plan="team",
                seats=50,
                stage=stage,
                top_rank=top_rank,
                signed_date=date(2025, 12, 1),
                renewal_date=date(2026, 12, 1),
                owner_csm=CSM,
                manager=MANAGER,
            )
        )
        s.add(
            Contact(
                account_id=account_id,
                name="Sam Lee",
                email=f"sam@{account_id}.example",
                role="Admin",
                is_primary=True,
            )
        )
        s.commit()


def add_ticket(
    engine, ticket_id: str, account_id: str, subject: str, body: str, priority: str | None = None
) -> None:
    """Store a ticket the way `csops ticket` does, from the account's primary contact."""
    store_ticket(engine, ticket_id, account_id, subject, body,
                 created_at=datetime(2026, 11, 20, tzinfo=UTC), priority=priority)  # fmt: skip


def outbox(engine, workflow_id: str | None = None) -> list[OutboxMessage]:
    """Queued messages, oldest first; only one workflow's if `workflow_id` is given."""
    with session(engine) as s:
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if workflow_id:
            q = q.where(OutboxMessage.workflow_id == workflow_id)
        return list(s.exec(q).all())


def customer_messages(engine, workflow_id: str) -> list[OutboxMessage]:
    """What the workflow queued for the customer (not the internal notifications)."""
    return [m for m in outbox(engine, workflow_id) if m.audience == "customer"]


def audit(engine, workflow_id: str | None = None) -> list[AuditEvent]:
    """Audit rows, oldest first; only one workflow's if `workflow_id` is given. Read
    through the ORM: details come back as JSON and times as datetimes on SQLite and
    PostgreSQL alike."""
    with session(engine) as s:
        q = select(AuditEvent).order_by(AuditEvent.id)
        if workflow_id:
            q = q.where(AuditEvent.workflow_id == workflow_id)
        return list(s.exec(q).all())


def help_article(engine, article_id: str) -> KnowledgeArticle:
    with session(engine) as s:
        article = s.get(KnowledgeArticle, article_id)
    assert article is not None, f"no article {article_id}"
    return article


def ticket_row(engine, ticket_id: str) -> SupportTicket:
    with session(engine) as s:
        row = s.get(SupportTicket, ticket_id)
    assert row is not None, f"no ticket {ticket_id}"
    return row


def small_how_to(db) -> str:
    """The how-to at a $20K account far from the top 50: a sourced answer would go alone."""
    add_account(db, "acc-20k", arr=20_000, top_rank=180)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-20k", *HOW_TO)
    return ticket


def top_account_ticket(db, subject: str, body: str) -> str:
    """A new ticket at acc-400k, a top-50 enterprise account: its reply waits for a human."""
    add_account(db, "acc-400k", arr=400_000, segment="enterprise", top_rank=12)
    ticket = new_ticket_id()
    add_ticket(db, ticket, "acc-400k", subject, body)
    return ticket
