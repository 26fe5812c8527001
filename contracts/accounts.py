"""What the policy may know about an account, and how to ask for it."""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel

from contracts.markdown import md

# The vocabularies policies match on (facts themselves stay plain strings, so
# histories recorded before a value was added keep decoding).
Segment = Literal["smb", "mid_market", "enterprise"]
Stage = Literal["new", "onboarding", "adopting", "renewing", "at_risk"]
SEGMENTS: tuple[str, ...] = get_args(Segment)


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
    health: int | None = None  # the latest stored health score (None before the first)

    def summary_line(self) -> str:
        """The account in one line of Markdown, for people: the same wherever it is
        shown (the name escaped: it is the customer's)."""
        return (
            f"{md(self.name)} (`{self.account_id}`) · {self.segment} · ARR "
            f"{md(f'${self.arr:,.0f}')} · top-{self.top_rank} · plan {md(self.plan)} · "
            f"CSM {md(self.owner_csm)}"
        )


class PullAccountInput(BaseModel):
    account_id: str
