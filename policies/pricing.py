"""Renewal pricing: a proposal computed from the package's risk and expansion
sections. Pure and deterministic: the renewal workflow calls it."""

from __future__ import annotations

import math

from contracts.accounts import AccountFacts
from contracts.renewal import ExpansionRecommendation, PricingProposal, RiskAssessment

UPLIFT_BY_RISK = {"high": 0.0, "medium": 0.03, "low": 0.07}


def _whole_dollars(x: float) -> float:
    return float(math.floor(x + 0.5))  # half up: the same everywhere, no banker's rounding


def pricing_proposal(
    account: AccountFacts, risk: RiskAssessment, expansion: ExpansionRecommendation
) -> PricingProposal:
    """The pricing proposal. Pure and deterministic (workflow code calls it).

    proposed = ARR x (1 + uplift) + expansion seats x (ARR / seats), rounded to whole
    dollars (half up); uplift by risk level: high 0% (hold the price, protect the
    renewal), medium +3%, low +7%. Expansion seats count only when the expansion is
    recommended and the account has a seat count; plan tiers and add-ons are not
    priced here. change_pct = round((proposed - ARR) / ARR x 100, 1), 0 when ARR is 0.
    """
    arr = account.arr
    uplift = UPLIFT_BY_RISK[risk.level]
    proposed = arr * (1 + uplift)
    if risk.level == "high":
        rationale = [
            (
                f"risk high (score {risk.score}/100): hold the price at ${arr:,.0f} to "
                "protect the renewal"
            )
        ]
    else:
        rationale = [
            (
                f"risk {risk.level} (score {risk.score}/100): +{uplift * 100:g}% on the "
                f"current ${arr:,.0f} (${arr * uplift:,.0f})"
            )
        ]
    seat_suggestion = 0
    if expansion.recommended and expansion.suggested_seats > 0:
        seat_suggestion = 1
        if account.seats > 0:
            per_seat = arr / account.seats
            added = per_seat * expansion.suggested_seats
            proposed += added
            rationale.append(
                f"expansion: +{expansion.suggested_seats:,} seats at the current "
                f"${per_seat:,.2f}/seat (${added:,.0f})"
            )
        else:
            rationale.append("expansion seats not priced: the account has no seat count")
    if expansion.recommended and len(expansion.suggestions) > seat_suggestion:
        rationale.append(
            "plan tier and add-on suggestions are not priced here: quote them separately"
        )
    proposed = _whole_dollars(proposed)
    change = round((proposed - arr) / arr * 100, 1) if arr else 0.0
    rationale.append("a proposal for the CSM, who decides: nothing is sent to the customer")
    return PricingProposal(
        current_arr=arr, proposed_arr=proposed, change_pct=change, rationale=rationale
    )
