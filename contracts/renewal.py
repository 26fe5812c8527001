"""The renewal package's messages: its sections, the package, its narrative, the
stored artifact and the workflow's result."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

from contracts.accounts import AccountFacts
from contracts.human import RequestStatus

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


class EvidenceLink(BaseModel):
    """A record behind a claim, shown in the brief's evidence list and linked from it."""

    kind: Literal["ticket", "note", "call", "nps", "contact", "usage"]
    ref: str  # the record's id (ticket id, row id, contact email; "active_users" for usage)
    label: str  # e.g. 'T-1042 “Agent down”'
    at: date | None = None
    excerpt: str = ""  # what the record says, shortened


class RiskFactor(BaseModel):
    """One rule that fired: the claim in words, its weight and the records behind it."""

    text: str
    weight: int
    sources: list[EvidenceLink] = []


class RiskAssessment(BaseModel):
    level: RiskLevel
    score: int  # 0..100, the sum of the evidence weights
    evidence: list[str]  # one claim per rule that fired, in words (no weights)
    usage_change_pct: float | None
    open_tickets: int
    angry_open_tickets: int
    nps_recent: float | None  # average 0-10 score of the last 90 days (not an NPS)
    nps_previous: float | None  # the same, the 90 days before
    champion_changes: list[str]  # the relationship gaps (the decision-maker map's)
    factors: list[RiskFactor] = []  # the evidence with weights and sources
    # NPS proper over the last 90 days: % promoters (9-10) - % detractors (0-6).
    nps_score: float | None = None
    nps_responses: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0


class ExpansionRecommendation(BaseModel):
    recommended: bool
    suggestions: list[str]  # which products or seats
    suggested_seats: int  # extra seats, 0 when none
    evidence: list[str]
    # What pricing prices (policies/pricing.py): the plan to move to, the add-ons.
    next_plan: str | None = None
    add_ons: list[str] = []  # keys of policies.pricing.ADD_ON_SHARE


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


class CommercialTerm(BaseModel):
    """One signed term of the contract (context table ContractTerm)."""

    kind: str  # new | renewal | expansion
    start_date: date
    end_date: date
    term_months: int
    plan: str
    seats: int
    list_arr: float
    arr: float
    discount_pct: float
    signed_by: str | None = None


class RenewalSections(BaseModel):
    """Every section of one package, computed at once (each table read once)."""

    usage: UsageReport
    roi: RoiProof
    risk: RiskAssessment
    expansion: ExpansionRecommendation
    decision_makers: DecisionMakerMap
    terms_requests: list[str]
    commercial: list[CommercialTerm] = []  # oldest first


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
    commercial: list[CommercialTerm] = []  # the signed terms, oldest first
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
    # Where a browser opens the HTML (CSOPS_ARTIFACT_URL + its path under the artifact
    # folder); None for packages stored before, or with no URL configured.
    url: str | None = None


class RenewalPackageResult(BaseModel):
    workflow_id: str
    account_id: str
    renewal_date: date
    artifact: StoredPackage
    risk_level: RiskLevel
    pricing_status: RequestStatus
    signing_task_status: RequestStatus


class StorePackageInput(BaseModel):
    workflow_id: str
    package: RenewalPackage
    # Where the files go: worker configuration (CSOPS_ARTIFACT_DIR), not workflow
    # input; a test may pass its own.
    artifact_dir: str | None = None
