"""Renewal pricing: a proposal computed from the package's risk and expansion
sections and the price list below. Pure and deterministic: the renewal workflow
calls it."""

from __future__ import annotations

import math

from contracts.accounts import AccountFacts
from contracts.renewal import ExpansionRecommendation, PricingProposal, RiskAssessment

# The renewal uplift on today's price, by renewal risk.
UPLIFT_BY_RISK = {"high": 0.0, "medium": 0.03, "low": 0.07}
# The price list: ARR per licensed seat on each plan. A plan upgrade moves the
# account's seats to the next plan at its list ratio, keeping today's discount.
LIST_PRICE_PER_SEAT = {"starter": 480, "team": 720, "business": 900, "enterprise": 1_100}
# Add-ons, as a share of the (renewed) base ARR they sit on.
ADD_ON_SHARE = {"api_volume": 0.10, "agent_resolutions": 0.08}
ADD_ON_NAMES = {"api_volume": "API volume add-on", "agent_resolutions": "agent resolution add-on"}


def _whole_dollars(x: float) -> float:
    return float(math.floor(x + 0.5))  # half up: the same everywhere, no banker's rounding


def pricing_proposal(
    account: AccountFacts, risk: RiskAssessment, expansion: ExpansionRecommendation
) -> PricingProposal:
    """The pricing proposal. Pure and deterministic (workflow code calls it).

    base = ARR x (1 + uplift), uplift by risk level: high 0% (hold the price,
    protect the renewal), medium +3%, low +7%. When the expansion is recommended:
    - plan upgrade: base x list(next plan) / list(plan) (the same discount off list);
    - extra seats: seats x ARR / seats x the same plan ratio (today's price per seat,
      not uplifted), when the account has a seat count;
    - each add-on: its share of the base (after any upgrade).
    proposed = the sum, rounded to whole dollars (half up); change_pct =
    round((proposed - ARR) / ARR x 100, 1), 0 when ARR is 0. The rationale says each
    step in dollars, never the risk score.
    """
    arr = account.arr
    uplift = UPLIFT_BY_RISK[risk.level]
    base = arr * (1 + uplift)
    if risk.level == "high":
        rationale = [f"renewal risk high: hold the price at ${arr:,.0f} to protect the renewal"]
    else:
        rationale = [
            (
                f"renewal risk {risk.level}: +{uplift * 100:g}% on the current ${arr:,.0f} "
                f"(${arr * uplift:,.0f})"
            )
        ]
    ratio = 1.0
    if expansion.recommended and expansion.next_plan:
        ratio = LIST_PRICE_PER_SEAT[expansion.next_plan] / LIST_PRICE_PER_SEAT[account.plan]
        rationale.append(
            f"plan upgrade {account.plan} → {expansion.next_plan}: list "
            f"${LIST_PRICE_PER_SEAT[account.plan]:,} → ${LIST_PRICE_PER_SEAT[expansion.next_plan]:,}"
            f" per seat, today's discount kept (${base * (ratio - 1):,.0f})"
        )
        base *= ratio
    proposed = base
    if expansion.recommended and expansion.suggested_seats > 0:
        if account.seats > 0:
            per_seat = arr / account.seats * ratio
            added = per_seat * expansion.suggested_seats
            proposed += added
            rationale.append(
                f"expansion: +{expansion.suggested_seats:,} seats at "
                f"${per_seat:,.2f}/seat (${added:,.0f})"
            )
        else:
            rationale.append("expansion seats not priced: the account has no seat count")
    if expansion.recommended:
        for add_on in expansion.add_ons:
            price = base * ADD_ON_SHARE[add_on]
            proposed += price
            rationale.append(
                f"{ADD_ON_NAMES[add_on]}: {ADD_ON_SHARE[add_on] * 100:g}% of the base "
                f"(${price:,.0f})"
            )
    proposed = _whole_dollars(proposed)
    change = round((proposed - arr) / arr * 100, 1) if arr else 0.0
    rationale.append("a proposal for the CSM, who decides: nothing is sent to the customer")
    return PricingProposal(
        current_arr=arr, proposed_arr=proposed, change_pct=change, rationale=rationale
    )
