"""The renewal call's agenda: what to say and what to ask, in the order of the
call, derived from a finished package (pure; the same package gives the same
agenda). Every talking point repeats a figure of the package; none is new."""

from __future__ import annotations

from dataclasses import dataclass, field

from context.renewal_sections import CHAMPION_ROLE, label
from contracts.renewal import RenewalPackage, RiskFactor


@dataclass
class AgendaItem:
    title: str
    talking_points: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


def _money(x: float) -> str:
    return f"${x:,.0f}"


def _value(p: RenewalPackage) -> AgendaItem:
    roi = p.roi
    item = AgendaItem("Open with the value they got")
    item.talking_points.append(
        f"Their AI agent resolved {roi.agent_resolutions_90d:,.0f} support conversations in "
        f"90 days: about {roi.hours_saved_90d:,.0f} hours, {_money(roi.value_usd_90d)} of "
        f"support time against {_money(roi.price_paid_90d)} paid for the quarter."
    )
    growing = [f for f in p.usage.features if f.change_pct is not None and f.change_pct >= 10]
    if growing:
        item.talking_points.append(
            "Growing in the last 30 days: "
            + ", ".join(f"{label(f.feature)} {f.change_pct:+.1f}%" for f in growing)
            + "."
        )
    item.questions.append("Which of these outcomes does your leadership look at?")
    item.questions.append("What should the product do for you in the next year that it does not?")
    return item


def _risk_point(factor: RiskFactor) -> tuple[str, str]:
    """(talking point, question) for one risk claim."""
    text = factor.text
    tickets = [s.ref for s in factor.sources if s.kind == "ticket"]
    if text.startswith("active users down"):
        return (
            f"Usage is sliding: {text}.",
            "What changed for your team in the last month: people, priorities, another tool?",
        )
    if "angry open ticket" in text or "open ticket" in text:
        return (
            f"Name {', '.join(tickets)} before they do, with what is being done and by when.",
            f"Is {tickets[0]} handled to your satisfaction, and is anything else blocking you?",
        )
    if text.startswith("average NPS-survey score"):
        return (
            f"Survey answers are low: {text}.",
            "What would it take for your team to score us a 9 or 10?",
        )
    name = next((s.label.split(" (")[0] for s in factor.sources if s.kind == "contact"), "")
    if "is negative" in text:
        return (
            f"Meet {name} one-to-one before the call: {text}.",
            f"{name}, what would you need to see to feel good about renewing?",
        )
    if "not touched" in text or "never touched" in text:
        return (f"Re-engage {name}: {text}; invite them.", f"{name}, what matters most to you now?")
    if text == "no executive sponsor":
        return ("No executive sponsor on record.", "Who signs off on the renewal on your side?")
    if text == "no champion":
        return (
            "No champion on record.",
            "Who runs the product day to day, and should they join us?",
        )
    return (text[:1].upper() + text[1:] + ".", "")


def _risks(p: RenewalPackage) -> AgendaItem | None:
    if not p.risk.factors:
        return None
    item = AgendaItem(f"Address the risks (renewal risk {p.risk.level})")
    for factor in p.risk.factors:
        point, question = _risk_point(factor)
        item.talking_points.append(point)
        if question and question not in item.questions:
            item.questions.append(question)
    return item


def _growth(p: RenewalPackage) -> AgendaItem:
    e = p.expansion
    if e.recommended:
        item = AgendaItem("Make the expansion case")
        item.talking_points += [f"Propose: {s}." for s in e.suggestions]
        item.talking_points += [f"Because: {line}." for line in e.evidence]
        item.questions.append("How many more people need access over the next 12 months?")
        if e.next_plan:
            item.questions.append(
                f"Which capabilities of the {e.next_plan} plan would your team use first?"
            )
        return item
    item = AgendaItem("Growth: listen, do not pitch")
    item.talking_points.append(
        "No expansion recommended: " + (e.evidence[-1] if e.evidence else "no signal") + "."
    )
    item.questions.append("Which other teams could use what this team uses?")
    return item


def _commercials(p: RenewalPackage) -> AgendaItem:
    item = AgendaItem("Commercials")
    if p.commercial:
        current, first = p.commercial[-1], p.commercial[0]
        item.talking_points.append(
            f"Current term {current.start_date} to {current.end_date} ({current.term_months} "
            f"months): {_money(current.arr)} for {current.seats:,} {current.plan} seats, "
            f"{current.discount_pct:g}% off list."
        )
        if len(p.commercial) > 1:
            item.talking_points.append(
                f"Since signing in {first.start_date:%B %Y}: {_money(first.arr)} → "
                f"{_money(current.arr)}; discounts "
                + " → ".join(f"{t.discount_pct:g}%" for t in p.commercial)
                + "."
            )
    pricing = p.pricing
    item.talking_points.append(
        f"Proposed {_money(pricing.proposed_arr)} ({pricing.change_pct:+.1f}%): the CSM "
        "decides the number before the call."
    )
    if p.terms_requests:
        item.talking_points.append(
            "They asked for non-standard terms: legal handles them; do not negotiate them on "
            "the call."
        )
    item.questions.append("Would a longer term work for you in exchange for price protection?")
    item.questions.append("Who else approves the renewal: procurement, legal, finance?")
    return item


def _next_steps(p: RenewalPackage) -> AgendaItem:
    signer = next(
        (c.name for c in p.decision_makers.contacts if c.is_decision_maker),
        next((c.name for c in p.decision_makers.contacts if CHAMPION_ROLE.search(c.role)), ""),
    )
    item = AgendaItem("Agree the next steps")
    item.talking_points.append(
        f"Agree the signing date before the renewal on {p.renewal_date}"
        + (f", with {signer}" if signer else "")
        + "; the signature is a human task, never the agent's."
    )
    item.questions.append("What does your approval process look like, and how long does it take?")
    return item


def call_agenda(package: RenewalPackage) -> list[AgendaItem]:
    """The agenda: the value they got, the risks, growth, commercials, next steps."""
    items = [
        _value(package),
        _risks(package),
        _growth(package),
        _commercials(package),
        _next_steps(package),
    ]
    return [i for i in items if i is not None]
