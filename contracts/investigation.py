"""Investigation on demand and the executive QBR narrative: the evidence of an
account's last days (each item with a stable id), the synthesis as claims that
cite those ids, and what is stored.

Evidence ids: `usage:<feature>:<ISO week>` (e.g. `usage:active_users:2026-W44`),
`ticket:<ticket id>`, `note:<row id>`, `call:<row id>`, `nps:<row id>`,
`contact:<row id>`, `health:<YYYY-MM-DD>`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from contracts.accounts import AccountFacts
from contracts.human import RequestStatus

InvestigationMode = Literal["investigation", "qbr"]
EvidenceKind = Literal["usage", "ticket", "note", "call", "nps", "contact", "health"]
# risk: where the account is at risk and why; strength: what is going well;
# next_step: what to do next.
ClaimSection = Literal["risk", "strength", "next_step"]
CLAIM_SECTIONS: tuple[ClaimSection, ...] = ("risk", "strength", "next_step")
DEFAULT_DAYS = 90


def investigation_id(account_id: str, started_at: datetime) -> str:
    """`investigation/{account_id}/{UTC timestamp to the second}`."""
    return f"investigation/{account_id}/{started_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def quarter_of(day: date) -> str:
    """`YYYY-Qn`."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def qbr_id(account_id: str, quarter: str) -> str:
    """`qbr/{account_id}/{YYYY-Qn}`: one executive QBR narrative per quarter."""
    return f"qbr/{account_id}/{quarter}"


class InvestigationInput(BaseModel):
    account_id: str
    question: str | None = None
    days: int = DEFAULT_DAYS
    mode: InvestigationMode = "investigation"
    quarter: str | None = None  # qbr mode: the quarter the narrative is for (YYYY-Qn)


class EvidenceInput(BaseModel):
    account_id: str
    as_of: date  # the last day of data covered
    days: int = DEFAULT_DAYS


class EvidenceItem(BaseModel):
    """One record (or one week of one feature's usage) the synthesis may cite."""

    id: str
    kind: EvidenceKind
    at: date | None = None
    title: str
    text: str = ""  # what the record says, shortened, or its figures in words
    # The figures the offline rules read: usage per_day/days; nps score; contact
    # sentiment, days_since_touch, key (champion or decision maker); ticket open;
    # health score and band.
    figures: dict[str, float | int | str | bool | None] = {}


class Evidence(BaseModel):
    account: AccountFacts
    as_of: date
    days: int
    since: date  # the first day covered
    items: list[EvidenceItem]

    def ids(self) -> list[str]:
        return [i.id for i in self.items]


class Claim(BaseModel):
    """One statement of the synthesis and the evidence ids behind it."""

    section: ClaimSection
    text: str
    evidence: list[str]
    matches_question: bool = False  # offline engine: its evidence matches the question


class DroppedClaim(BaseModel):
    """A claim of the model's that is not shown as fact, and why."""

    text: str
    evidence: list[str]
    reason: str


class ModelClaim(BaseModel):
    section: ClaimSection
    text: str
    evidence: list[str] = []


class ModelSynthesis(BaseModel):
    """What the model answers: claims citing the evidence ids it was given."""

    claims: list[ModelClaim]


class SynthesisInput(BaseModel):
    workflow_id: str
    evidence: Evidence
    question: str | None = None
    mode: InvestigationMode = "investigation"
    quarter: str | None = None  # qbr mode


class Synthesis(BaseModel):
    claims: list[Claim]
    engine: str
    # Claims the model made citing no evidence, or evidence it was not given.
    dropped: list[DroppedClaim] = []
    # How the question was answered (the offline engine says it read no question).
    answer_note: str = ""
    narrative: str = ""  # qbr mode: the drafted narrative (Markdown)


class StoreInvestigationInput(BaseModel):
    workflow_id: str
    account_id: str
    question: str | None
    mode: InvestigationMode
    created_at: datetime
    synthesis: Synthesis
    evidence_ids: list[str]


class StoredInvestigation(BaseModel):
    investigation_id: int
    workflow_id: str


class StoreQbrInput(BaseModel):
    workflow_id: str
    account_id: str
    quarter: str
    text: str  # the final narrative: the draft approved, or the CSM's edited text
    status: RequestStatus  # approved | edited | ...
    decided_by: str | None
    decided_at: datetime


class StoredQbr(BaseModel):
    qbr_id: int
    workflow_id: str


class InvestigationResult(BaseModel):
    workflow_id: str
    account_id: str
    mode: InvestigationMode
    question: str | None
    as_of: date
    since: date
    engine: str
    claims: list[Claim]
    dropped: list[DroppedClaim]
    answer_note: str
    evidence: list[EvidenceItem]
    stored: StoredInvestigation
    # qbr mode
    quarter: str | None = None
    narrative_status: RequestStatus | None = None
    narrative: str | None = None  # the final text stored, None when nothing was
    qbr: StoredQbr | None = None
