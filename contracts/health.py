"""A standing account health score: its components with the evidence behind each,
the score, its band and its movement. Pydantic only: the nightly sweep will carry
these through Temporal."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

HealthBand = Literal["healthy", "watch", "at_risk"]
ComponentName = Literal[
    "usage_trend",
    "usage_breadth",
    "seat_utilisation",
    "tickets",
    "nps",
    "relationships",
    "onboarding",
    "renewal",
]
Figure = int | float | str | None


class HealthComponent(BaseModel):
    """One part of the score: its 0-100 sub-score, its share of the score (the
    normalized weight) and the figures and records it was computed from."""

    name: ComponentName
    score: int = Field(ge=0, le=100)
    weight: float = Field(ge=0, le=1)
    summary: str  # the figures in one line, for people
    figures: dict[str, Figure] = {}
    records: list[str] = []  # "ticket:T-1042", "nps:17", "contact:3", "usage:active_users"


class AccountHealth(BaseModel):
    account_id: str
    account_name: str
    as_of: date  # the last day of data covered
    computed_at: datetime
    score: int = Field(ge=0, le=100)
    band: HealthBand
    trend: int | None = None  # score minus the previous stored score (an earlier day)
    previous_score: int | None = None
    weakest: ComponentName  # the component with the lowest sub-score
    components: list[HealthComponent]
    policy_version: str
