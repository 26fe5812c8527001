"""The context layer: what csops knows about each customer, plus the outbox of
every outbound message and the audit log of every agent action and human decision.

Indexes follow the reads: everything is fetched per account and time window,
one query per table.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Account(SQLModel, table=True):
    id: str = Field(primary_key=True)  # e.g. "acc-0042"
    name: str
    arr: float
    segment: str = Field(index=True)  # smb | mid_market | enterprise
    plan: str
    seats: int
    stage: str = Field(index=True)  # new | onboarding | adopting | renewing | at_risk
    top_rank: int  # 1 = largest ARR in the book
    signed_date: date
    renewal_date: date = Field(index=True)
    owner_csm: str = Field(index=True)
    manager: str


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", index=True)
    name: str
    email: str
    role: str  # e.g. "VP Operations", "Admin", "Champion"
    is_decision_maker: bool = False
    is_primary: bool = False
    influence: str = "medium"  # low | medium | high
    sentiment: float = 0.0  # -1 .. 1, from notes and calls
    last_touch: date | None = None


class UsageDaily(SQLModel, table=True):
    """One row per account, day and feature."""

    # Every usage read (per-feature checks and trends, the renewal sections'
    # grouping by feature and day) is answered from this index alone: no table
    # lookups, no sort. It replaces (account_id, day), which sorted the grouping;
    # a database made before keeps that one too.
    __table_args__ = (
        Index("ix_usage_account_feature_day", "account_id", "feature", "day", "value"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id")
    day: date
    feature: str  # active_users | agent_resolutions | api_calls | integrations | reports
    value: float


class SupportTicket(SQLModel, table=True):
    # With the id, an account's tickets come out in (created_at, id) order unsorted.
    __table_args__ = (Index("ix_ticket_account_created_id", "account_id", "created_at", "id"),)
    id: str = Field(primary_key=True)  # e.g. "T-1042"
    account_id: str = Field(foreign_key="account.id")
    subject: str
    body: str
    requester_email: str | None = None
    created_at: datetime
    # new | answered | awaiting_human | escalated | solved (the escalation sets them);
    # demo history and older rows also say open | pending | closed.
    status: str = "open"
    language: str = "en"
    priority: str | None = None  # the helpdesk's own: low | normal | high | urgent
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    channel: str = "email"
    # The reply that answered it and the source it was grounded in
    # ("article:<id>" / "ticket:<id>"); for imported history, the solving answer.
    answer: str | None = Field(default=None, sa_column=Column(Text))
    answer_source: str | None = None
    updated_at: datetime | None = None


# Tickets still waiting on someone, old statuses and new.
OPEN_TICKET_STATUSES = ("open", "new", "awaiting_human", "escalated")


class PastTicket(SQLModel, table=True):
    """A ticket imported from a help desk's history; the solved ones with their
    answer are knowledge the agent answers from. Not tied to a live account."""

    id: str = Field(primary_key=True)
    subject: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    answer: str | None = Field(default=None, sa_column=Column(Text))
    status: str
    priority: str | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    language: str = Field(index=True)
    created_at: datetime | None = None
    account_id: str | None = None  # the customer's own account key, when the export has one
    content_hash: str


class KnowledgeArticle(SQLModel, table=True):
    """One help-centre article in one language (imported from Markdown or Zendesk)."""

    id: str = Field(primary_key=True)
    title: str
    locale: str = Field(index=True)
    url: str | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    body: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str


class ContractTerm(SQLModel, table=True):
    """One signed term of an account's contract: the first deal and each renewal
    since, with its price against the list (the renewal brief's commercial history).
    Read per account in start order."""

    __table_args__ = (Index("ix_contractterm_account_start", "account_id", "start_date"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id")
    kind: str  # new | renewal | expansion
    start_date: date
    end_date: date  # the last day the term covers
    term_months: int
    plan: str
    seats: int
    list_arr: float  # the price list's ARR for the plan and seats
    arr: float  # what was signed
    discount_pct: float  # (list_arr - arr) / list_arr x 100
    signed_by: str | None = None


class _AccountEvent(SQLModel):
    """Something said or done at an account at one time; read per account and window
    (each table indexes `account_id, at`)."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id")
    at: datetime


class CrmNote(_AccountEvent, table=True):
    __table_args__ = (Index("ix_crmnote_account_at", "account_id", "at"),)
    author: str
    text: str


class CallTranscript(_AccountEvent, table=True):
    __table_args__ = (Index("ix_call_account_at", "account_id", "at"),)
    title: str
    participants: str
    text: str


class NpsResponse(_AccountEvent, table=True):
    __table_args__ = (Index("ix_nps_account_at", "account_id", "at"),)
    contact_email: str
    score: int  # 0 .. 10
    comment: str = ""


class OutboxMessage(SQLModel, table=True):
    """Transactional outbox: written by activities, delivered by a channel.

    The unique idempotency key (workflow id + step) is what makes a retried or
    replayed send a no-op.
    """

    __table_args__ = (UniqueConstraint("idempotency_key"),)
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str
    workflow_id: str = Field(index=True)
    account_id: str = Field(index=True)
    audience: str  # customer | internal
    channel: str  # email | chat
    to: str  # comma-separated addresses
    subject: str
    body: str
    engine: str | None = None
    sampled_for_review: bool = False
    created_at: datetime
    # pending | sending (claimed by a dispatcher) | sent | failed | shadow (csops shadow)
    status: str = Field(default="pending", index=True)
    claimed_at: datetime | None = None
    attempts: int = 0
    delivered_at: datetime | None = None
    last_error: str | None = None
    confirm: bool = False  # the sending workflow waits to hear it was delivered
    # When the sending workflow was told the outcome (a failure, or a confirmed send);
    # a failure's alert to the owner is queued by then too.
    reported_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """Every agent action and human decision: who, what, at which level, why."""

    __table_args__ = (UniqueConstraint("idempotency_key"),)
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str
    at: datetime
    workflow_id: str = Field(index=True)
    account_id: str = Field(index=True)
    actor: str  # "agent" or a human's email
    action: str
    outcome: str
    autonomy: str | None = None
    policy_rule: str | None = None
    policy_version: str | None = None
    engine: str | None = None
    model: str | None = None
    tokens: int | None = None
    latency_ms: float | None = None
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON))


class _WorkflowRecord(SQLModel):
    """What one workflow run wrote back. The unique workflow id is what makes a
    retried store find the stored row instead of writing a second one."""

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(unique=True)
    account_id: str = Field(foreign_key="account.id", index=True)


class OnboardingReviewRecord(_WorkflowRecord, table=True):
    """The day-30 onboarding review, written back to the context layer."""

    at: datetime
    status: str
    activation_level: str
    activation_pct: float
    next_owner: str
    review: dict = Field(default_factory=dict, sa_column=Column(JSON))
    markdown: str


class RenewalPackageRecord(_WorkflowRecord, table=True):
    """One renewal package per workflow run: the rendered artifacts and the data."""

    renewal_date: date
    created_at: datetime
    risk_level: str  # low | medium | high
    markdown_path: str
    html_path: str
    markdown: str = Field(sa_column=Column(Text, nullable=False))
    html: str = Field(sa_column=Column(Text, nullable=False))
    package: dict = Field(default_factory=dict, sa_column=Column(JSON))  # RenewalPackage


class HealthScore(SQLModel, table=True):
    """One account's health as computed for one day (history: a row per account and
    day; computing the same day again replaces that day's row)."""

    __table_args__ = (
        UniqueConstraint("account_id", "as_of"),
        Index("ix_healthscore_account_computed", "account_id", "computed_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id")
    computed_at: datetime
    as_of: date
    score: int
    band: str  # healthy | watch | at_risk
    components: list = Field(default_factory=list, sa_column=Column(JSON))  # HealthComponent
    policy_version: str


class InternalTicket(SQLModel, table=True):
    """An internal ticket opened on the tracker's webhook for one NPS dip. The unique
    dip key is what keeps a retried or repeated watch from opening it twice. The key
    names a response of this book, so a new demo book drops these rows with it."""

    id: int | None = Field(default=None, primary_key=True)
    dip_key: str = Field(unique=True)  # "nps:<response id>"
    account_id: str = Field(foreign_key="account.id", index=True)
    external_id: str  # the tracker's id (Linear identifier, Jira key)
    url: str | None = None  # the link, when the tracker returned one
    opened_at: datetime
    workflow_id: str


def table(model: type[SQLModel]) -> Table:
    """A table model's Core table, for plain-row statements where loading model
    instances would cost more than the query (SQLModel does not type `__table__`)."""
    return model.__table__  # type: ignore[attr-defined]


class Investigation(SQLModel, table=True):
    """One investigation (or QBR draft) of an account: the claims of its synthesis,
    each citing evidence ids, and every evidence id it was given. One row per
    workflow run (a retried store finds it). No foreign key: a fresh demo book
    (`csops seed --reset`) replaces the accounts without touching what was found."""

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(unique=True)
    account_id: str = Field(index=True)
    mode: str  # investigation | qbr
    question: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime
    engine: str
    claims: list = Field(default_factory=list, sa_column=Column(JSON))  # Claim
    evidence_ids: list = Field(default_factory=list, sa_column=Column(JSON))
    dropped: list = Field(default_factory=list, sa_column=Column(JSON))  # DroppedClaim
    answer_note: str = ""


class QbrNarrative(SQLModel, table=True):
    """An account's executive QBR narrative for a quarter, as the human decided it
    (the approved draft or their edited text). Nothing is stored on a rejection."""

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(unique=True)
    account_id: str = Field(index=True)
    quarter: str  # YYYY-Qn
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str  # approved | edited
    decided_by: str | None = None
    decided_at: datetime
