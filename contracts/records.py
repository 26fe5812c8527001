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
