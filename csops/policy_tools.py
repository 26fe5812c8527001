"""`csops policy stats` and `csops policy simulate`: tuning the autonomy policy from
the evidence in the audit log. Both only read; nothing is moved or run."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Engine

from context.db import session
from context.decisions import RecordedDecision, decision_figures, recorded_decisions
from contracts.autonomy import AutonomyLevel
from contracts.policy_evidence import DecisionFigures, PolicyMove, RequestChange, Suggestion
from policies.evaluate import RuleFacts, decide_on_facts
from policies.model import PolicySet, Tuning

# Levels at which a person is asked: a request per decision.
HUMAN_LEVELS = (AutonomyLevel.COPILOT, AutonomyLevel.OFF_LIMITS)
# Recorded adjustments (the assessment's or the draft's doubts) hold a decision at
# least here, whatever the rule says (policies.evaluate.with_assessment).
ADJUSTED_FLOOR = AutonomyLevel.COPILOT
_RULE_FACTS = TypeAdapter(RuleFacts)


def _percent(rate: float) -> str:
    return f"{rate:.0%}"


def _reasons(bad: dict[str, int]) -> str:
    """Bad reviews' reasons, most frequent first, in words."""
    ranked = sorted(bad.items(), key=lambda kv: (-kv[1], kv[0]))
    words = [r.replace("_", " ") for r, _ in ranked]
    if len(ranked) == 1:
        return words[0]
    return ", ".join(f"{w} {n}" for w, (_, n) in zip(words, ranked, strict=True))


def _suggestion(f: DecisionFigures, direction: str, evidence: str) -> Suggestion:
    where = f"{f.action} at rule {f.rule} ({f.level})"
    return Suggestion(
        action=f.action, rule=f.rule, level=f.level, direction=direction,
        evidence=f"{where}: {evidence}",
    )  # fmt: skip


def suggestions(figures: list[DecisionFigures], tuning: Tuning) -> list[Suggestion]:
    """Evidence for moving an action × rule, by the policy's tuning thresholds: left
    when nearly every decision approved the draft unedited, right when too many
    graded reviews were bad. Stated, never applied."""
    found: list[Suggestion] = []
    for f in figures:
        level = AutonomyLevel(f.level)
        approved, bad = f.approval_rate, f.bad_review_rate
        graded = f.reviews_good + f.reviews_bad
        if (
            level != AutonomyLevel.AUTONOMOUS
            and f.decided >= tuning.min_decisions
            and approved is not None
            and approved >= tuning.move_left_unedited_share
        ):
            found.append(
                _suggestion(
                    f,
                    "left",
                    f"{_percent(approved)} approved unedited over {f.decided} "
                    "decisions → candidate to move left",
                )  # fmt: skip
            )
        if (
            level != AutonomyLevel.OFF_LIMITS
            and graded >= tuning.min_decisions
            and bad is not None
            and bad >= tuning.move_right_bad_share
        ):
            found.append(
                _suggestion(
                    f,
                    "right",
                    f"{_percent(bad)} of reviews bad ({_reasons(f.bad_reasons)}) "
                    f"over {graded} reviews → move right",
                )  # fmt: skip
            )
    return found


def policy_stats(
    engine: Engine, policies: PolicySet, since: datetime, until: datetime
) -> dict[str, Any]:
    """The figures per action × rule × level in the window, and the suggestions the
    policy's tuning thresholds draw from them."""
    with session(engine) as s:
        figures = decision_figures(s, since, until)
    tuning = policies.autonomy.tuning
    return {
        "since": since,
        "until": until,
        "policy_version": policies.version,
        "tuning": tuning.model_dump(),
        "figures": [f.model_dump() for f in figures],
        "suggestions": [x.model_dump() for x in suggestions(figures, tuning)],
    }


def _redecide(candidate: PolicySet, d: RecordedDecision) -> tuple[str, AutonomyLevel] | None:
    """The rule and level `candidate` gives a recorded decision; None when its facts
    were not recorded (or not in a shape this version reads)."""
    if d.facts is None:
        return None
    try:
        facts = _RULE_FACTS.validate_python(d.facts)
    except ValidationError:
        return None
    new = decide_on_facts(candidate, d.action, facts)
    level = new.level.at_least(ADJUSTED_FLOOR) if d.adjustments else new.level
    return new.rule, level


def _iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def simulate(
    engine: Engine, current: PolicySet, candidate: PolicySet, since: datetime, until: datetime
) -> dict[str, Any]:
    """Every decision recorded in the window, placed again under `candidate`: which
    would move left or right (by action and rule), and the human requests that adds
    or removes per CSM (the account's owner when it was decided) and ISO week."""
    with session(engine) as s:
        decisions = recorded_decisions(s, since, until)
    moves: Counter[tuple[str, str, str, str, str]] = Counter()
    requests: defaultdict[tuple[str, str], RequestChange] = defaultdict(
        lambda: RequestChange(csm="", week="")
    )
    not_reevaluable = 0
    for d in decisions:
        placed = _redecide(candidate, d)
        if placed is None:
            not_reevaluable += 1
            continue
        rule, level = placed
        was = AutonomyLevel(d.level)
        if level == was:
            continue
        moves[(d.action, d.rule, was.value, rule, level.value)] += 1
        asked_before, asked_now = was in HUMAN_LEVELS, level in HUMAN_LEVELS
        if asked_before != asked_now:
            csm, week = str((d.facts or {}).get("owner_csm", "")), _iso_week(d.at)
            change = requests[(csm, week)]
            change.csm, change.week = csm, week
            change.added += asked_now
            change.removed += asked_before
    return {
        "since": since,
        "until": until,
        "current_version": current.version,
        "candidate_version": candidate.version,
        "decisions": len(decisions),
        "reevaluated": len(decisions) - not_reevaluable,
        "not_reevaluable": not_reevaluable,
        "moves": [
            PolicyMove(
                action=action,
                from_rule=from_rule,
                from_level=from_level,
                to_rule=to_rule,
                to_level=to_level,
                direction="left"
                if AutonomyLevel(to_level).rank < AutonomyLevel(from_level).rank
                else "right",
                decisions=n,
            ).model_dump()
            for (action, from_rule, from_level, to_rule, to_level), n in sorted(moves.items())
        ],  # fmt: skip
        "requests": [requests[k].model_dump() for k in sorted(requests)],
    }
