"""Typed messages shared by workflows, activities, the CLI and the tests.

One input and one result model per workflow, activity, signal and update. Every
client uses `pydantic_data_converter`, so these travel as JSON and stay readable
in the Temporal UI.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AutonomyLevel(StrEnum):
    """Left to right: how much a human is involved."""

    AUTONOMOUS = "autonomous"  # acts; reviewed in aggregate
    SUPERVISED = "supervised"  # acts; a sample is reviewed after the fact
    COPILOT = "copilot"  # drafts; a human decides every time
    OFF_LIMITS = "off_limits"  # neither acts nor drafts; a human task is created

    @property
    def rank(self) -> int:
        return list(AutonomyLevel).index(self)

    def at_least(self, other: AutonomyLevel) -> AutonomyLevel:
        """The more human-involved of the two levels (never the less)."""
        return self if self.rank >= other.rank else other


class WorkType(StrEnum):
    RESOLUTION = "resolution"
    DRAFTING = "drafting"
    INVESTIGATION = "investigation"
    OPERATIONS = "operations"


# ---------------------------------------------------------------- account context


class AccountFacts(BaseModel):
    """What the policy may look at when it places an action."""

    account_id: str
    name: str
    arr: float
    segment: str  # smb | mid_market | enterprise
    plan: str
    seats: int = 0  # added later: optional so older histories still decode
    stage: str
    top_rank: int  # 1 = largest ARR in the book
    renewal_date: date
    owner_csm: str
    manager: str
    primary_contact_email: str | None = None
    primary_contact_name: str | None = None


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


# ---------------------------------------------------------------- LLM gateway


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


# ---------------------------------------------------------------- policy decisions


class AutonomyDecision(BaseModel):
    action: str
    level: AutonomyLevel
    rule: str  # the matched rule, or "default" / "unknown-action"
    policy_version: str  # content hash of the policy files
    adjustments: list[str] = []  # why the level moved right of the rule's level


# ---------------------------------------------------------------- human decisions

RequestKind = Literal["approval", "task", "ack"]
DecisionValue = Literal["approve", "reject", "edit", "ack", "done"]
RequestStatus = Literal[
    "open", "approved", "rejected", "edited", "acked", "done", "expired",
    "withdrawn",  # the agent took it back: no longer needed (e.g. the customer did it)
]

# Which decisions close which kind of request.
ALLOWED_DECISIONS: dict[str, tuple[str, ...]] = {
    "approval": ("approve", "reject", "edit"),
    "task": ("done",),
    "ack": ("ack",),
}


class DecideInput(BaseModel):
    """The one payload of the `decide` signal and update."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    decision: DecisionValue
    approver: str
    text: str | None = None  # the edited draft, for decision == "edit"
    note: str | None = None


class DecideResult(BaseModel):
    request_id: str
    status: RequestStatus
    approver: str


class HumanRequest(BaseModel):
    """One open (or closed) thing a human must do on a workflow."""

    request_id: str
    kind: RequestKind
    action: str
    autonomy: AutonomyLevel
    title: str
    draft: str | None = None
    eligible_approvers: list[str]
    created_at: datetime
    due_at: datetime
    remind_at: datetime | None = None
    escalate_at: datetime | None = None
    expire_at: datetime
    status: RequestStatus = "open"
    decided_by: str | None = None
    decided_at: datetime | None = None
    final_text: str | None = None
    note: str | None = None
    reminded: bool = False
    escalated: bool = False

    def signal_payload(self) -> dict:
        """The ready-to-paste `decide` payload for the first eligible approver."""
        decision = ALLOWED_DECISIONS[self.kind][0]
        return {
            "request_id": self.request_id,
            "decision": decision,
            "approver": self.eligible_approvers[0],
        }


class HumanRequestView(BaseModel):
    """What the `human_requests` query returns for each open request."""

    request_id: str
    kind: RequestKind
    action: str
    autonomy: AutonomyLevel
    title: str
    draft: str | None
    eligible_approvers: list[str]
    due_at: datetime
    expire_at: datetime
    created_at: datetime
    signal_payload: dict


class Refusal(BaseModel):
    """A `decide` signal that could not be applied: kept visible, never fatal."""

    at: datetime
    reason: str
    payload: str


# ---------------------------------------------------------------- outbox and audit


class OutboundMessage(BaseModel):
    """One message for the outbox; `idempotency_key` makes the send exactly-once."""

    idempotency_key: str
    workflow_id: str
    account_id: str
    audience: Literal["customer", "internal"]
    channel: Literal["email", "chat"] = "email"
    to: list[str]
    subject: str
    body: str = ""
    # Or a template under templates/ rendered by the activity (workflows do no I/O).
    template: str | None = None
    values: dict = {}
    engine: str | None = None
    sampled_for_review: bool = False  # supervised sends picked for after-the-fact review
    created_at: datetime


class OutboxReceipt(BaseModel):
    message_id: int
    duplicate: bool  # True when the key was already in the outbox (a retry or replay)


class AuditEntry(BaseModel):
    """One agent action or human decision, with the policy that placed it."""

    idempotency_key: str
    at: datetime
    workflow_id: str
    account_id: str
    actor: str  # "agent" or a human's email
    action: str
    outcome: str
    autonomy: AutonomyLevel | None = None
    policy_rule: str | None = None
    policy_version: str | None = None
    engine: str | None = None
    detail: dict = {}


# ---------------------------------------------------------------- escalation workflow


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


# ---------------------------------------------------------------- onboarding workflow

MilestoneStatus = Literal["scheduled", "in progress", "done", "behind", "stuck", "missed"]
AccountOnboardingStatus = Literal["On track", "Behind", "Stuck", "Paused", "Completed"]


class OnboardingInput(BaseModel):
    account_id: str


class CustomerEventInput(BaseModel):
    """`customer_event` signal: something the customer did, e.g. integration_connected."""

    event: str
    note: str | None = None


class PauseInput(BaseModel):
    reason: str | None = None


class ResumeInput(BaseModel):
    note: str | None = None


class UsageCheckInput(BaseModel):
    account_id: str
    feature: str
    measure: Literal["max", "sum"]
    since: date
    until: date  # inclusive
    at_least: float


class UsageCheckResult(BaseModel):
    feature: str
    measure: str
    value: float
    at_least: float
    met: bool


class MilestoneState(BaseModel):
    id: str
    title: str
    day: int
    action: str
    autonomy: AutonomyLevel | None = None
    status: MilestoneStatus = "scheduled"
    completed_by: str | None = None  # usage | event | human | message
    message: str | None = None  # what happened to its message: sent, awaiting approval, ...
    last_check: UsageCheckResult | None = None
    nudged: bool = False


class OnboardingReviewInput(BaseModel):
    account: AccountFacts
    workflow_id: str
    since: date
    until: date
    milestones: list[MilestoneState]
    open_requests: list[str]
    at: datetime


class OnboardingReview(BaseModel):
    """The day-30 review: the workflow's result, stored in the context layer."""

    account_id: str
    workflow_id: str
    status: AccountOnboardingStatus
    activation_level: str  # activated | partially activated | not activated
    activation_pct: float
    milestones_hit: list[str]
    milestones_missed: list[str]
    usage: dict[str, float]  # per feature: total since launch (active_users: peak day)
    open_risks: list[str]
    next_owner: str
    markdown: str


# ---------------------------------------------------------------- renewal package

RiskLevel = Literal["low", "medium", "high"]


class RenewalPackageInput(BaseModel):
    account_id: str
    renewal_date: date


class SectionInput(BaseModel):
    """What every package section is computed from: one account, as of one day."""

    account_id: str
    renewal_date: date
    as_of: date  # the last day of data the package covers (usage window ends here)


class FeatureTrend(BaseModel):
    feature: str
    last_30: float  # total over the last 30 days (active_users: average per day)
    previous_30: float  # the 30 days before
    change_pct: float | None  # None when there was nothing before
    weekly: list[float]  # 13 weekly totals (oldest first): the 90-day trend


class UsageReport(BaseModel):
    window_start: date
    window_end: date
    features: list[FeatureTrend]
    seats: int
    peak_active_users: float
    avg_active_users_30d: float
    seat_utilisation_pct: float  # average daily active users over the last 30 days / seats
    adoption: list[str]  # plain statements against the plan, e.g. "integrations: 3 connected"


class RoiProof(BaseModel):
    agent_resolutions_90d: float
    hours_saved_90d: float
    value_usd_90d: float
    price_paid_90d: float  # ARR / 4
    roi_multiple: float | None
    agent_actions_90d: int  # audit-log actions by the agent for this account
    outcomes: list[str]


class RiskAssessment(BaseModel):
    level: RiskLevel
    score: int  # 0..100, the sum of the evidence weights
    evidence: list[str]
    usage_change_pct: float | None
    open_tickets: int
    angry_open_tickets: int
    nps_recent: float | None
    nps_previous: float | None
    champion_changes: list[str]


class ExpansionRecommendation(BaseModel):
    recommended: bool
    suggestions: list[str]  # which products or seats
    suggested_seats: int  # extra seats, 0 when none
    evidence: list[str]


class DecisionMaker(BaseModel):
    name: str
    email: str
    role: str
    is_decision_maker: bool
    influence: str
    sentiment: float
    last_touch: date | None
    days_since_touch: int | None


class DecisionMakerMap(BaseModel):
    contacts: list[DecisionMaker]
    missing: list[str]  # roles nobody covers, stale relationships


class PricingProposal(BaseModel):
    current_arr: float
    proposed_arr: float
    change_pct: float
    rationale: list[str]


class RenewalPackage(BaseModel):
    """Everything the CSM walks into the renewal call with."""

    account: AccountFacts
    renewal_date: date
    as_of: date
    usage: UsageReport
    roi: RoiProof
    risk: RiskAssessment
    expansion: ExpansionRecommendation
    decision_makers: DecisionMakerMap
    pricing: PricingProposal
    # Where the customer asked for non-standard terms: off-limits, a human handles it.
    terms_requests: list[str] = []
    # The narrative for the CSM, from the LLM gateway; it repeats the figures above,
    # it does not make new ones. Labelled with the engine that wrote it.
    summary: str = ""
    summary_engine: str = ""


class RenewalSummaryInput(BaseModel):
    workflow_id: str
    package: RenewalPackage


class RenewalSummary(BaseModel):
    text: str
    engine: str = ""


class StoredPackage(BaseModel):
    package_id: int
    markdown_path: str
    html_path: str


class RenewalPackageResult(BaseModel):
    workflow_id: str
    account_id: str
    renewal_date: date
    artifact: StoredPackage
    risk_level: RiskLevel
    pricing_status: RequestStatus
    signing_task_status: RequestStatus


# ---------------------------------------------------------------- renewal sweep


class SweepCounts(BaseModel):
    started: int = 0
    skipped: int = 0  # a package exists or runs for this renewal already
    failed: int = 0
    failures: list[str] = []  # the first few, with their reason


class SweepInput(BaseModel):
    """Empty when the Schedule starts it; filled in when it continues as new."""

    as_of: date | None = None
    after_account_id: str | None = None
    totals: SweepCounts = SweepCounts()
    batches_done: int = 0


class SweepBatchInput(BaseModel):
    as_of: date
    window_days: int
    after_account_id: str | None
    batch_size: int
    concurrency: int
    task_queue: str


class SweepBatchResult(BaseModel):
    counts: SweepCounts
    accounts_seen: int
    last_account_id: str | None
    done: bool  # no account after this batch


class SweepReport(BaseModel):
    as_of: date
    window_end: date
    counts: SweepCounts
    batches: int


# ---------------------------------------------------------------- daily CSM digest


class DigestInput(BaseModel):
    """Empty from the Schedule: the digest is for the day it runs."""

    day: date | None = None


class DigestResult(BaseModel):
    day: date
    recipients: int
    requests: int
    duplicates: int  # digests already sent today (a second run sends nothing new)
