"""The escalation workflow's messages: the ticket in its context, the assessment
and draft from the LLM gateway, and the workflow's input and result."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contracts.accounts import AccountFacts
from contracts.autonomy import AutonomyLevel
from contracts.human import HumanRequest


class Ticket(BaseModel):
    ticket_id: str
    account_id: str
    subject: str
    body: str
    requester_email: str | None = None
    created_at: datetime


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
    severity: Literal["low", "medium", "high", "critical"]
    hot: bool
    strategic_signal: str | None = None
    confidence: float = Field(ge=0, le=1)
    language: str = "en"
    injection_suspected: bool = False
    needs_human: bool = False  # the model may ask for a human; it can never ask for less
    reasons: list[str] = []
    engine: str = ""  # "offline" or "openai:<model>": shown wherever the output appears

    def summary_line(self) -> str:
        return (
            f"Assessment ({self.engine}): intent {self.intent}, sentiment {self.sentiment:+.2f}, "
            f"severity {self.severity}, confidence {self.confidence:.2f}, language {self.language}"
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


class DraftReply(BaseModel):
    subject: str
    body: str
    engine: str = ""
    needs_human: bool = False  # the draft could not be trusted: a human decides


class EscalationInput(BaseModel):
    ticket_id: str


class EscalationResult(BaseModel):
    ticket_id: str
    hot: bool
    action: str
    autonomy: AutonomyLevel
    outcome: str  # sent | sent_sampled | approved | edited | rejected | acked | done | expired | human_task
    customer_messages_sent: int
    requests: list[HumanRequest]
