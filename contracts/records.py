"""The outbox and the audit log: what every workflow writes through activities."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from contracts.autonomy import AutonomyLevel


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
    # The sending workflow waits to hear it was delivered (a failure is always told).
    confirm: bool = False


class DeliveryNews(BaseModel):
    """The `delivery_outcome` signal: the outbox dispatcher says a message of this
    workflow was delivered or failed for good. Only a hint: the workflow reads the
    outbox itself (`DeliveryStatus`) before it believes it."""

    idempotency_key: str


class DeliveryStatus(BaseModel):
    """A message's delivery as the outbox records it."""

    idempotency_key: str
    status: str  # pending | sending | sent | failed | shadow; "unknown" when not queued
    to: str = ""
    subject: str = ""
    last_error: str | None = None

    @property
    def settled(self) -> bool:
        return self.status in ("sent", "failed")


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


class RenderInput(BaseModel):
    template: str
    values: dict
