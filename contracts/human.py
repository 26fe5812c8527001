"""The human-decision protocol's messages: requests, the `decide` payload and its
result, refusals, and the inbox built from them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.autonomy import AutonomyLevel
from contracts.knowledge import SourceRef

RequestKind = Literal["approval", "task", "ack"]
DecisionValue = Literal["approve", "reject", "edit", "ack", "done"]
RequestStatus = Literal[
    "open",
    "approved",
    "rejected",
    "edited",
    "acked",
    "done",
    "expired",
    "withdrawn",  # the agent took it back: no longer needed (e.g. the customer did it)
]

# Which decisions close which kind of request.
ALLOWED_DECISIONS: dict[str, tuple[str, ...]] = {
    "approval": ("approve", "reject", "edit"),
    "task": ("done",),
    "ack": ("ack",),
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
    notes: list[str] = []  # for the reviewer only: never part of what is sent
    sources: list[SourceRef] = []  # what the draft is (or could be) grounded in
    not_sendable: str | None = None  # why the draft cannot be approved as it stands

    def view(self) -> HumanRequestView:
        """What the `human_requests` query shows of it."""
        return HumanRequestView(**self.model_dump(include=_VIEW_FIELDS),
                                signal_payload=self.signal_payload())  # fmt: skip

    def signal_payload(self) -> dict:
        """The ready-to-paste `decide` payload for the first eligible approver. A
        draft that cannot go out as it stands is offered as an edit, never an approval."""
        if self.not_sendable and self.kind == "approval":
            return {
                "request_id": self.request_id,
                "decision": "edit",
                "approver": self.eligible_approvers[0],
                "text": "<your reply to the customer>",
            }
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
    notes: list[str] = []
    sources: list[SourceRef] = []
    not_sendable: str | None = None
    signal_payload: dict


# What the view copies from the request as it is (the payload is built for it).
_VIEW_FIELDS = set(HumanRequestView.model_fields) - {"signal_payload"}


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
}


class InboxItem(BaseModel):
    """One open request in someone's inbox, with the workflow it waits on."""

    workflow_id: str
    workflow_type: str
    account_id: str | None
    request: HumanRequestView
    age_minutes: float
