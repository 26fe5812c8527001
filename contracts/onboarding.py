"""The onboarding workflow's messages: input, signals, activation checks, milestones
and the day-30 review."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from contracts.accounts import AccountFacts
from contracts.autonomy import AutonomyLevel

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
