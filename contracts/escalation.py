"""The escalation workflow's messages: the ticket in its context, the assessment
and draft from the LLM gateway, and the workflow's input and result."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contracts.accounts import AccountFacts
from contracts.autonomy import AutonomyLevel
from contracts.human import HumanRequest
from contracts.knowledge import Grounding, SourceRef
from contracts.records import AuditEntry, OutboundMessage

# What policies may name about a ticket.
Priority = Literal["low", "normal", "high", "urgent"]
RiskCategory = Literal[
    "security_incident", "data_loss", "legal_compliance", "outage", "churn_threat",
    "billing_dispute",
]  # fmt: skip
Language = Literal["en", "de", "es", "fr", "pt", "unknown"]  # "unknown": none was read
Severity = Literal["low", "medium", "high", "critical"]


class Ticket(BaseModel):
    ticket_id: str
    account_id: str
    subject: str
    body: str
    requester_email: str | None = None
    created_at: datetime
    priority: str | None = None  # the helpdesk's own: low | normal | high | urgent
    tags: list[str] = []


class TicketContext(BaseModel):
    """The account and ticket as the escalation workflow sees them."""

    ticket: Ticket
    account: AccountFacts
    open_tickets: int
    usage_trend_pct: float | None = Field(
        None, description="Change in active users, last 4 weeks vs the 4 before, in %."
    )
    last_nps: int | None = None


class PullTicketContextInput(BaseModel):
    ticket_id: str


class TicketAssessment(BaseModel):
    """Typed output of the ticket assessment, whichever engine produced it."""

    intent: str  # how_to | bug_report | billing | refund_request | contract | cancellation | outage | feature_request | other
    sentiment: float = Field(ge=-1, le=1)
    severity: Severity
    hot: bool
    strategic_signal: str | None = None
    confidence: float = Field(ge=0, le=1)
    language: str = "en"
    injection_suspected: bool = False
    needs_human: bool = False  # the model may ask for a human; it can never ask for less
    # Risk categories that always need a human: security_incident, data_loss,
    # legal_compliance, outage, churn_threat, billing_dispute.
    risks: list[str] = []
    reasons: list[str] = []
    engine: str = ""  # "offline" or "openai:<model>": shown wherever the output appears

    def summary_line(self) -> str:
        risks = f", risks {', '.join(self.risks)}" if self.risks else ""
        return (
            f"Assessment ({self.engine}): intent {self.intent}, sentiment {self.sentiment:+.2f}, "
            f"severity {self.severity}, confidence {self.confidence:.2f}, language {self.language}"
            f"{risks}"
        )

    @classmethod
    def for_a_human(cls, reason: str, engine: str) -> TicketAssessment:
        """No usable assessment (the model failed or answered nonsense): the ticket
        is not lost, it goes to a human."""
        return cls(
            intent="other", sentiment=0, severity="medium", hot=False, confidence=0,
            needs_human=True, reasons=[reason], engine=engine,
        )  # fmt: skip


class AssessTicketInput(BaseModel):
    workflow_id: str
    context: TicketContext


class DraftReplyInput(BaseModel):
    workflow_id: str
    context: TicketContext
    assessment: TicketAssessment
    grounding: Grounding | None = None  # None: the defaults (older workflows)


class DraftReply(BaseModel):
    """A reply as the customer would read it, with what a reviewer needs beside it.

    `body` is only ever customer-facing text; reviewer notes live in `notes` and
    can never be sent.
    """

    subject: str
    body: str
    engine: str = ""
    needs_human: bool = False  # the draft could not be trusted: a human decides
    sources: list[SourceRef] = []  # what the body's answer is taken from, cited in it
    candidates: list[SourceRef] = []  # what retrieval found, for the human to use
    notes: list[str] = []  # for the reviewer only
    not_sendable: str | None = None  # why it cannot go out as it stands (None: it can)


class ModelDraft(BaseModel):
    """What a model answers when asked for a reply: it must cite the sources given."""

    subject: str
    body: str
    cited_source_ids: list[str] = []
    needs_human: bool = False


TicketStatus = Literal["new", "answered", "awaiting_human", "escalated", "solved"]


class TicketStatusInput(BaseModel):
    """The ticket's status in the context layer, following its escalation."""

    ticket_id: str
    status: TicketStatus
    answer: str | None = None  # the reply the customer got
    source: str | None = None  # what it was grounded in ("article:<id>" / "ticket:<id>")


class HotTicketRecords(BaseModel):
    """What a hot ticket writes once it is assessed, in one transaction: the
    notification for the outbox, its audit rows, the ticket's new status."""

    message: OutboundMessage
    audits: list[AuditEntry]
    status: TicketStatusInput


class EscalationInput(BaseModel):
    ticket_id: str


class EscalationResult(BaseModel):
    ticket_id: str
    hot: bool
    action: str
    autonomy: AutonomyLevel
    # sent | sent_sampled | approved | edited | rejected | acked | done | expired |
    # superseded | delivery_failed (the reply was not delivered: a person has the ticket)
    outcome: str
    customer_messages_sent: int
    requests: list[HumanRequest]
    ticket_status: str = ""  # as recorded in the context layer
    sources: list[SourceRef] = []  # what the reply sent was grounded in
    human_reasons: list[str] = []  # why a human got the ticket, when one did
    # The reply's delivery as the outbox reported it: delivered | failed | unconfirmed
    # (nobody reported it within the wait); "" when no reply was sent or asked about.
    delivery: str = ""


class EscalationState(EscalationResult):
    """Where an escalation stands (query `escalation_state`), read while it runs:
    `routed` turns true once the agent answered alone or a human was asked and
    the ticket's status was recorded, i.e. once its route is final."""

    stage: str
    routed: bool
    hot_reasons: list[str] = []
    assessment: TicketAssessment | None = None
    strategic: str | None = None  # the strategic ask a CSM task was opened for
    message: str | None = None  # what the customer wrote, whole (the details shorten it)
