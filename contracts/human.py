"""The human-decision protocol's messages: requests, the `decide` payload and its
result, refusals, and the inbox built from them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from contracts.accounts import AccountFacts
from contracts.autonomy import AutonomyDecision, AutonomyLevel
from contracts.knowledge import SourceRef

# `review`: grading a supervised action after the fact (it never blocks the action).
RequestKind = Literal["approval", "task", "ack", "review"]
DecisionValue = Literal["approve", "reject", "edit", "ack", "done", "good", "bad"]
# Why a review graded a sent message bad (required with `bad`).
ReviewReason = Literal[
    "wrong_facts", "wrong_tone", "should_not_have_been_sent", "wrong_language", "other"
]
REVIEW_REASONS: tuple[str, ...] = get_args(ReviewReason)
RequestStatus = Literal[
    "open",
    "approved",
    "rejected",
    "edited",
    "acked",
    "done",
    "expired",
    "withdrawn",  # the agent took it back: no longer needed (e.g. the customer did it)
    "superseded",  # approved, but the policy in force when it ran no longer allowed it
    "good",  # a review: right to send as it was sent
    "bad",  # a review: it should not have gone out as it did (a reason says why)
]

# Which decisions close which kind of request.
ALLOWED_DECISIONS: dict[str, tuple[str, ...]] = {
    "approval": ("approve", "reject", "edit"),
    "task": ("done",),
    "ack": ("ack",),
    "review": ("good", "bad"),
}


MAX_DECISION_TEXT = 20_000  # characters: a long customer email, edited
MAX_DECISION_NOTE = 2_000


class DecideInput(BaseModel):
    """The one payload of the `decide` signal and update."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(max_length=100)
    decision: DecisionValue
    approver: str = Field(max_length=320)  # the longest email address there is
    # Bounded: every decision is kept in the workflow's state and its history.
    text: str | None = Field(None, max_length=MAX_DECISION_TEXT)  # the edited draft (edit)
    note: str | None = Field(None, max_length=MAX_DECISION_NOTE)
    reason: ReviewReason | None = None  # a review graded bad: why (required with `bad`)


class DecideResult(BaseModel):
    request_id: str
    status: RequestStatus
    approver: str


class DeciderCheckInput(BaseModel):
    """Find the signal or update that carried a decision in the workflow's own
    history, and who Temporal recorded as its sender."""

    workflow_id: str
    run_id: str
    request_id: str
    decision: DecisionValue
    approver: str
    update_id: str | None = None  # the update that carried it; None for a signal
    up_to_event: int = 0  # a signal arrived at or before this event
    used_events: list[int] = []  # signal events already matched to earlier decisions


class DeciderCheck(BaseModel):
    identity: str  # the sender as Temporal recorded it ("" when it recorded none)
    event_id: int  # the signal or update-accepted event (0: not found)
    verified: bool  # the identity is the approver's own address
    problem: str | None = None  # why the decision is refused; None when it may apply


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
    # Who sent the decision as Temporal recorded it, and whether that is decided_by.
    decided_identity: str | None = None
    identity_verified: bool | None = None
    final_text: str | None = None
    note: str | None = None
    reminded: bool = False
    escalated: bool = False
    notes: list[str] = []  # for the reviewer only: never part of what is sent
    sources: list[SourceRef] = []  # what the draft is (or could be) grounded in
    not_sendable: str | None = None  # why the draft cannot be approved as it stands
    policy_version: str | None = None  # the policy it was asked under
    # The rule that put the action where it is, and why it moved right of it.
    rule: str | None = None
    adjustments: list[str] = []
    superseded: str | None = None  # why an approval no longer stood when it was to run
    reason: ReviewReason | None = None  # a review graded bad: why
    reviewed: str | None = None  # a review: the idempotency key of the message it grades

    def view(self) -> HumanRequestView:
        """What the `human_requests` query shows of it."""
        return HumanRequestView(**self.model_dump(include=_VIEW_FIELDS),
                                signal_payload=self.signal_payload(),
                                payloads=self.payloads())  # fmt: skip

    def signal_payload(self) -> dict:
        """The ready-to-paste `decide` payload for the first eligible approver."""
        return self.payloads_for(self.eligible_approvers[0])[0]

    def payloads(self) -> dict[str, list[dict]]:
        """Each eligible person's own ready-to-paste payloads, so nobody pastes
        another person's address."""
        return {a: self.payloads_for(a) for a in self.eligible_approvers}

    def payloads_for(self, approver: str) -> list[dict]:
        """One payload per decision that closes this request, the usual one first;
        an edit carries the draft in `text`, ready to change. A draft that cannot
        go out as it stands is offered as an edit, never an approval."""

        def payload(decision: str, **more: str) -> dict:
            return {
                "request_id": self.request_id,
                "decision": decision,
                "approver": approver,
                **more,
            }

        if self.kind == "review":  # a bad grade is pasted with a reason, ready to change
            return [payload("good"), payload("bad", reason="wrong_facts", note="<what was wrong>")]
        if self.not_sendable and self.kind == "approval":
            return [payload("edit", text="<your reply to the customer>"), payload("reject")]
        return [
            payload(d, text=self.draft or "") if d == "edit" else payload(d)
            for d in ALLOWED_DECISIONS[self.kind]
        ]


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
    notes: list[str] = []
    sources: list[SourceRef] = []
    not_sendable: str | None = None
    reviewed: str | None = None
    signal_payload: dict  # the first eligible approver's usual decision
    payloads: dict[str, list[dict]] = {}  # each eligible person's own, every decision


# What the view copies from the request as it is (the payload is built for it).
_VIEW_FIELDS = set(HumanRequestView.model_fields) - {"signal_payload", "payloads"}


class Refusal(BaseModel):
    """A signal (`decide` or any other) that could not be applied: kept visible,
    never fatal."""

    at: datetime
    reason: str
    payload: str


# The status a request takes when a decision closes it.
STATUS_FOR_DECISION: dict[str, RequestStatus] = {
    "approve": "approved",
    "reject": "rejected",
    "edit": "edited",
    "ack": "acked",
    "done": "done",
    "good": "good",
    "bad": "bad",
}


def review_workflow_id(reviewed: str) -> str:
    """The review of one sent message: keyed by the message, so it is opened once."""
    return f"review/{reviewed}"


class ReviewInput(BaseModel):
    """A supervised message the policy sampled, to be graded after the fact."""

    account: AccountFacts
    decision: AutonomyDecision  # the policy decision it was sent under
    reviewed: str  # the sent message's idempotency key
    to: list[str]
    subject: str
    # What was sent: the body, or the template and values the outbox rendered it from.
    body: str = ""
    template: str | None = None
    values: dict = {}
    reviewers: list[str]
    window: timedelta  # graded within it, or it expires quietly


Urgency = Literal["hot", "overdue", "due"]
# The order a person should work in: a hot acknowledgement (a customer in trouble,
# the on-call paged) before anything overdue, and that before what is merely due.
URGENCY_ORDER: dict[str, int] = {"hot": 0, "overdue": 1, "due": 2}


def urgency_of(request: HumanRequestView, now: datetime) -> Urgency:
    if request.kind == "ack":  # only hot escalations ask for an acknowledgement
        return "hot"
    return "overdue" if request.due_at <= now else "due"


class InboxItem(BaseModel):
    """One open request in someone's inbox, with the workflow it waits on."""

    workflow_id: str
    workflow_type: str
    account_id: str | None
    request: HumanRequestView
    age_minutes: float
    urgency: Urgency = "due"

    def rank(self) -> tuple[int, datetime]:
        """Sort key: urgency first, then the earliest due."""
        return URGENCY_ORDER[self.urgency], self.request.due_at
