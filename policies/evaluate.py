"""Pure policy functions: no I/O, no clock, safe to call from workflow code.

The autonomy decision is made here, never by a model. Model output may move an
action to the right (more human), never to the left.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from contracts.accounts import AccountFacts
from contracts.autonomy import AutonomyDecision, AutonomyLevel
from contracts.escalation import TicketAssessment
from policies.model import Condition, PolicySet, RoutingPolicy

SEVERITY_ORDER = ["low", "medium", "high", "critical"]


@dataclass(frozen=True)
class TicketSignals:
    """What autonomy rules may match about a ticket."""

    risks: tuple[str, ...]
    priority: str | None
    severity: str
    language: str
    injection: bool

    @classmethod
    def of(cls, assessment: TicketAssessment, priority: str | None) -> TicketSignals:
        return cls(
            risks=tuple(assessment.risks),
            priority=priority,
            severity=assessment.severity,
            language=assessment.language,
            injection=assessment.injection_suspected,
        )


def _ticket_matches(when: Condition, t: TicketSignals | None) -> bool:
    asks = (when.any_risk, when.risk_in, when.priority_in, when.severity_at_least,
            when.language_in, when.injection)  # fmt: skip
    if all(a is None for a in asks):
        return True
    if t is None:
        return False
    checks = [
        when.any_risk is None or when.any_risk == bool(t.risks),
        when.risk_in is None or bool(set(when.risk_in) & set(t.risks)),
        when.priority_in is None or t.priority in when.priority_in,
        when.severity_at_least is None
        or SEVERITY_ORDER.index(t.severity) >= SEVERITY_ORDER.index(when.severity_at_least),
        when.language_in is None or t.language in when.language_in,
        when.injection is None or when.injection == t.injection,
    ]
    return all(checks)


@dataclass(frozen=True)
class RuleFacts:
    """What an autonomy decision rests on: the account facts rules match on, the
    people approvers are named from, and the ticket's signals (None for work that is
    not a ticket). Recorded with every decision (`AutonomyDecision.facts`), so a
    candidate policy can re-evaluate it (`csops policy simulate`)."""

    arr: float
    segment: str
    stage: str
    top_rank: int
    hot: bool
    owner_csm: str
    manager: str
    ticket: TicketSignals | None = None

    @classmethod
    def of(cls, facts: AccountFacts, hot: bool, ticket: TicketSignals | None) -> RuleFacts:
        return cls(
            arr=facts.arr,
            segment=facts.segment,
            stage=facts.stage,
            top_rank=facts.top_rank,
            hot=hot,
            owner_csm=facts.owner_csm,
            manager=facts.manager,
            ticket=ticket,
        )

    def recorded(self) -> dict[str, Any]:
        """As JSON-able data, for the decision and its audit rows."""
        data = asdict(self)
        if self.ticket is not None:
            data["ticket"]["risks"] = list(self.ticket.risks)
        return data


def _matches(when: Condition, facts: RuleFacts) -> bool:
    checks = [
        when.arr_below is None or facts.arr < when.arr_below,
        when.arr_at_least is None or facts.arr >= when.arr_at_least,
        when.segment_in is None or facts.segment in when.segment_in,
        when.stage_in is None or facts.stage in when.stage_in,
        when.top_rank_at_most is None or facts.top_rank <= when.top_rank_at_most,
        when.hot is None or when.hot == facts.hot,
    ]
    return all(checks) and _ticket_matches(when, facts.ticket)


def decide_autonomy(
    policies: PolicySet,
    action: str,
    facts: AccountFacts,
    *,
    hot: bool = False,
    ticket: TicketSignals | None = None,
) -> AutonomyDecision:
    """Place one action on the autonomy spectrum: first matching rule, else the default.

    An action the policy does not know is off limits: the safe default.
    """
    return decide_on_facts(policies, action, RuleFacts.of(facts, hot, ticket))


def decide_on_facts(policies: PolicySet, action: str, facts: RuleFacts) -> AutonomyDecision:
    """`decide_autonomy` on the facts a decision rests on (recorded or current)."""
    spec = policies.autonomy.actions.get(action)
    if spec is None:
        return AutonomyDecision(
            action=action,
            level=AutonomyLevel.OFF_LIMITS,
            rule="unknown-action",
            policy_version=policies.version,
            approvers=[facts.owner_csm, facts.manager],
            facts=facts.recorded(),
        )
    level, rule_name = spec.default, "default"
    for rule in spec.rules:
        if _matches(rule.when, facts):
            level, rule_name = rule.level, rule.name
            break
    return AutonomyDecision(
        action=action,
        level=level,
        rule=rule_name,
        policy_version=policies.version,
        approvers=approvers_for(policies, spec.approvers, facts),
        facts=facts.recorded(),
    )


def approvers_for(
    policies: PolicySet, roles: list[str], facts: AccountFacts | RuleFacts
) -> list[str]:
    """The people the roles name for this account, in the policy's order, once each."""
    people: list[str] = []
    for role in roles:
        if role == "owner_csm":
            people.append(facts.owner_csm)
        elif role == "manager":
            people.append(facts.manager)
        elif role == "on_call":
            people.append(policies.routing.on_call)
        else:
            people.extend(policies.autonomy.roles.get(role, []))
    return list(dict.fromkeys(p for p in people if p))


def with_assessment(
    decision: AutonomyDecision, assessment: TicketAssessment, routing: RoutingPolicy
) -> AutonomyDecision:
    """Move the decision right when the assessment gives reason to doubt it.

    Low confidence, an unhandled language, a suspected prompt injection or the
    model asking for a human all mean at least copilot. Nothing here moves left.
    """
    reasons = []
    if assessment.confidence < routing.confidence_floor:
        reasons.append(f"confidence below {routing.confidence_floor}: {assessment.confidence:.2f}")
    if assessment.injection_suspected:
        reasons.append("possible prompt injection in the ticket")
    if assessment.needs_human:
        reasons.append("the assessment asked for a human")
    if not reasons:
        return decision
    level = decision.level.at_least(AutonomyLevel.COPILOT)
    return decision.model_copy(
        update={"level": level, "adjustments": [*decision.adjustments, *reasons]}
    )


def hot_reasons(routing: RoutingPolicy, assessment: TicketAssessment, text: str) -> list[str]:
    """Why a ticket is hot (empty when it is not). Either side can make it hot.
    Each reason is "what" or "what: particulars", so reasons can be counted."""
    rules = routing.hot
    lowered = text.lower()
    reasons = []
    if assessment.hot:
        reasons.append(f"assessment ({assessment.engine}) marked it hot")
    if SEVERITY_ORDER.index(assessment.severity) >= SEVERITY_ORDER.index(rules.severity_at_least):
        reasons.append(f"severity {assessment.severity}")
    if assessment.sentiment <= rules.sentiment_at_most:
        reasons.append(
            f"sentiment at or below {rules.sentiment_at_most:+.2f}: {assessment.sentiment:+.2f}"
        )
    reasons.extend(f'phrase: "{p}"' for p in rules.phrases if p.lower() in lowered)
    reasons.extend(f"risk {r}" for r in assessment.risks if r in rules.risks)
    return reasons


def strategic_signal(routing: RoutingPolicy, assessment: TicketAssessment, text: str) -> str | None:
    """The strategic phrase the customer used, if any: a human acts on it."""
    lowered = text.lower()
    for phrase in routing.strategic_phrases:
        if phrase.lower() in lowered:
            return phrase
    return assessment.strategic_signal


def action_for_intent(routing: RoutingPolicy, intent: str) -> str:
    return routing.intent_actions.get(intent, routing.intent_actions.get("other", "customer_reply"))


def sampled_for_review(rate: float, key: str) -> bool:
    """Deterministic sample of supervised actions: same key, same answer, on every replay."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
    return bucket < rate
