"""A standing account health score: its components with the evidence behind each,
the score, its band and its movement; and the nightly sweep that records it for
every account. Pydantic only: these cross Temporal."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

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


class HealthCounts(BaseModel):
    scored: int = 0
    bands: dict[str, int] = {}  # band -> accounts in it
    failed: int = 0
    failures: list[str] = []  # the first few, with their reason

    def plus(self, other: HealthCounts) -> HealthCounts:
        bands = dict(self.bands)
        for band, n in other.bands.items():
            bands[band] = bands.get(band, 0) + n
        return HealthCounts(
            scored=self.scored + other.scored,
            bands=bands,
            failed=self.failed + other.failed,
            failures=[*self.failures, *other.failures][:20],
        )


class HealthSweepInput(BaseModel):
    """Empty when the Schedule starts it; filled in when it continues as new."""

    as_of: date | None = None
    after_account_id: str | None = None
    totals: HealthCounts = HealthCounts()
    batches_done: int = 0


class HealthBatchInput(BaseModel):
    as_of: date
    after_account_id: str | None
    batch_size: int


class HealthBatchResult(BaseModel):
    counts: HealthCounts
    last_account_id: str | None
    done: bool  # no account after this batch


class HealthSweepReport(BaseModel):
    as_of: date
    counts: HealthCounts
    batches: int


# ---------------------------------------------------------------- the account watch
# What the nightly sweep finds for one account, sent to its watch workflow
# (`health/{account_id}`), where the Risk and Growth agents act on it.


class BandCrossing(BaseModel):
    """The band got worse since the account's previous stored score."""

    from_band: HealthBand
    to_band: HealthBand
    from_score: int
    to_score: int
    since: date  # the previous score's day


class UsageAnomaly(BaseModel):
    """A drop the detector flagged (policies/health.yaml `anomaly`)."""

    feature: str
    recent_days: int
    recent_mean: float  # per day over the recent days
    baseline_days: int
    baseline_median: float
    baseline_mad: float  # the spread used (MAD, or its flat-baseline substitute)
    z: float  # modified z-score of the recent mean
    z_at_most: float  # the policy's cut-off it crossed
    records: list[str] = []  # "usage:active_users:2026-11-14" ... the recent days


class Detractor(BaseModel):
    """One NPS response at or under the policy's detractor score: one dip."""

    response_id: int
    score: int
    at: datetime
    contact_email: str
    comment: str = ""

    @property
    def dip_key(self) -> str:
        """What an internal ticket is opened for once: this response."""
        return f"nps:{self.response_id}"


class ExpansionSignal(BaseModel):
    """Usage outgrowing the plan (the renewal package's expansion rules)."""

    suggestions: list[str]  # "add 24 seats (100 → 124): utilisation 69.8%"
    evidence: list[str]  # the figures behind each, in words
    suggested_seats: int = 0
    next_plan: str | None = None
    add_ons: list[str] = []
    records: list[str] = []


class WatchFindings(BaseModel):
    """One account's night: its health and what the agents may act on. The
    expansion signal is set only when the Growth agent's conditions hold (risk low)."""

    account_id: str
    health: AccountHealth
    crossing: BandCrossing | None = None
    anomaly: UsageAnomaly | None = None
    detractors: list[Detractor] = []  # new since the previous stored score
    expansion: ExpansionSignal | None = None

    @property
    def at_risk(self) -> bool:
        """The Risk agent acts (alert, summary, maybe a task)."""
        return bool(self.crossing or self.anomaly or self.detractors)


class InternalTicketInput(BaseModel):
    """Open the internal ticket for one dip (idempotent by the dip key): an NPS
    detractor response, or the health band getting worse; the account's health just
    recorded, and the watch workflow that asks (kept with the ticket's record)."""

    workflow_id: str
    health: AccountHealth
    detractor: Detractor | None = None
    crossing: BandCrossing | None = None  # added with the band tickets

    @model_validator(mode="after")
    def _one_dip(self) -> Self:
        if (self.detractor is None) == (self.crossing is None):
            raise ValueError("an internal ticket is for one dip: a detractor or a crossing")
        return self

    @property
    def dip_key(self) -> str:
        """A detractor's response, or the account's band on the night it got worse
        (the same night swept again is the same dip; staying there is no new one)."""
        if self.detractor is not None:
            return self.detractor.dip_key
        h, c = self.health, self.crossing
        assert c is not None  # one of the two (_one_dip)
        return f"health:{h.account_id}:{h.as_of.isoformat()}:{c.to_band}"


class InternalTicketResult(BaseModel):
    dip_key: str
    opened: bool  # POSTed by this call; False: opened before, or no webhook configured
    external_id: str | None = None  # the tracker's id (recorded or just created)
    url: str | None = None  # the link, when the tracker returned one
    reason: str = ""  # why nothing was POSTed, in words
