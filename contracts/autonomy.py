"""The autonomy spectrum and the policy's decision for one action."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class AutonomyLevel(StrEnum):
    """Left to right: how much a human is involved."""

    AUTONOMOUS = "autonomous"  # acts; reviewed in aggregate
    SUPERVISED = "supervised"  # acts; a sample is reviewed after the fact
    COPILOT = "copilot"  # drafts; a human decides every time
    OFF_LIMITS = "off_limits"  # neither acts nor drafts; a human task is created

    @property
    def rank(self) -> int:
        return list(AutonomyLevel).index(self)

    @property
    def meaning(self) -> str:
        """What the level means, in words a CSM reads in a request."""
        return _MEANINGS[self]

    def at_least(self, other: AutonomyLevel) -> AutonomyLevel:
        """The more human-involved of the two levels (never the less)."""
        return self if self.rank >= other.rank else other


class WorkType(StrEnum):
    RESOLUTION = "resolution"
    DRAFTING = "drafting"
    INVESTIGATION = "investigation"
    OPERATIONS = "operations"


_MEANINGS = {
    AutonomyLevel.AUTONOMOUS: "the agent acts alone",
    AutonomyLevel.SUPERVISED: "the agent acts and a sample is reviewed afterwards",
    AutonomyLevel.COPILOT: "the agent drafts and a person decides every time",
    AutonomyLevel.OFF_LIMITS: "the agent must not do it: a person does",
}


def rule_in_words(rule: str) -> str:
    """A policy rule's name as a phrase: rules are named as sentences in kebab case."""
    if rule == "default":
        return "no rule matched, so the action's default level applies"
    if rule == "unknown-action":
        return "the policy does not name this action, so it takes the safest level"
    return "rule “" + rule.replace("-", " ") + "”"


class AutonomyDecision(BaseModel):
    action: str
    level: AutonomyLevel
    rule: str  # the matched rule, or "default" / "unknown-action"
    policy_version: str  # content hash of the policy files
    adjustments: list[str] = []  # why the level moved right of the rule's level
    # Who may decide when a human must (copilot) or act (off_limits), as the policy
    # names them for this account; empty only in decisions made before policies did.
    approvers: list[str] = []
    # The facts the decision rests on (policies.evaluate.RuleFacts, as JSON-able data),
    # kept in its audit rows so a candidate policy can re-evaluate it; empty in
    # decisions made before they were recorded.
    facts: dict[str, Any] = {}

    def summary_line(self) -> str:
        moved = f"; moved right: {'; '.join(self.adjustments)}" if self.adjustments else ""
        return (
            f"Policy: `{self.action}` → **{self.level.value}** (rule `{self.rule}`, "
            f"policy {self.policy_version}){moved}"
        )
