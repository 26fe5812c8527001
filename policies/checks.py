"""Warnings about a policy that loads but does not say what its author meant:
rules that can never match, and rules an earlier rule always takes first."""

from __future__ import annotations

from policies.evaluate import SEVERITY_ORDER
from policies.model import Condition, PolicySet, Rule

# Fields where a smaller bound is stricter, a larger bound is stricter, a smaller set
# is stricter, or only the same value implies the other.
_AT_MOST = ("arr_below", "top_rank_at_most")
_AT_LEAST = ("arr_at_least",)
_IN = ("segment_in", "stage_in", "risk_in", "priority_in", "language_in")
_EQUAL = ("hot", "any_risk", "injection")


def _implies(narrow: Condition, wide: Condition) -> bool:
    """Every case `narrow` matches, `wide` matches too."""
    for name in Condition.model_fields:
        want = getattr(wide, name)
        if want is None:
            continue
        have = getattr(narrow, name)
        if have is None:
            return False
        if name in _AT_MOST and not have <= want:
            return False
        if name in _AT_LEAST and not have >= want:
            return False
        if name in _IN and not set(have) <= set(want):
            return False
        if name in _EQUAL and have != want:
            return False
        if name == "severity_at_least" and (
            SEVERITY_ORDER.index(have) < SEVERITY_ORDER.index(want)
        ):
            return False
    return True


def _never_matches(when: Condition) -> str | None:
    if when.arr_below is not None and when.arr_at_least is not None:
        if when.arr_below <= when.arr_at_least:
            return f"arr_below {when.arr_below:g} is not above arr_at_least {when.arr_at_least:g}"
    empty = [name for name in _IN if getattr(when, name) == []]
    if empty:
        return f"{', '.join(empty)} is empty"
    return None


def rule_warnings(policies: PolicySet) -> list[str]:
    """One line per rule that can never apply, naming the action and the rule."""
    warnings = []
    for action, policy in policies.autonomy.actions.items():
        earlier: list[Rule] = []
        for rule in policy.rules:
            where = f"autonomy.yaml: actions.{action}.rules {rule.name!r}"
            why = _never_matches(rule.when)
            if why:
                warnings.append(f"{where} can never match: {why}")
            else:
                first = next((e for e in earlier if _implies(rule.when, e.when)), None)
                if first is not None:
                    warnings.append(
                        f"{where} is never reached: rule {first.name!r} before it "
                        "matches everything it matches"
                    )
            earlier.append(rule)
    return warnings
