"""The autonomy spectrum and the policy's decision for one action."""

from __future__ import annotations

from enum import StrEnum

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

    def at_least(self, other: AutonomyLevel) -> AutonomyLevel:
        """The more human-involved of the two levels (never the less)."""
        return self if self.rank >= other.rank else other


class WorkType(StrEnum):
    RESOLUTION = "resolution"
    DRAFTING = "drafting"
    INVESTIGATION = "investigation"
    OPERATIONS = "operations"


class AutonomyDecision(BaseModel):
    action: str
    level: AutonomyLevel
    rule: str  # the matched rule, or "default" / "unknown-action"
    policy_version: str  # content hash of the policy files
    adjustments: list[str] = []  # why the level moved right of the rule's level
    # Who may decide when a human must (copilot) or act (off_limits), as the policy
    # names them for this account; empty only in decisions made before policies did.
    approvers: list[str] = []

    def summary_line(self) -> str:
        moved = f"; moved right: {'; '.join(self.adjustments)}" if self.adjustments else ""
        return (
            f"Policy: `{self.action}` → **{self.level.value}** (rule `{self.rule}`, "
            f"policy {self.policy_version}){moved}"
        )
