"""Typed shape of the policy files. Unknown keys are errors, so a typo never
silently drops a rule."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from csops.models import AutonomyLevel, WorkType


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """Facts about the account a rule applies to; every given field must hold."""

    arr_below: float | None = None
    arr_at_least: float | None = None
    segment_in: list[str] | None = None
    stage_in: list[str] | None = None
    top_rank_at_most: int | None = None
    hot: bool | None = None


class Rule(_Strict):
    name: str
    when: Condition
    level: AutonomyLevel


class ActionPolicy(_Strict):
    work_type: WorkType
    default: AutonomyLevel
    rules: list[Rule] = []


class AutonomyPolicy(_Strict):
    actions: dict[str, ActionPolicy]
    supervised_sample_rate: float = Field(0.2, ge=0, le=1)


class HotRules(_Strict):
    severity_at_least: str = "high"
    sentiment_at_most: float = Field(-0.6, ge=-1, le=1)
    phrases: list[str] = []


class AckLadder(_Strict):
    deadline_minutes: int = Field(gt=0)
    remind_after_minutes: int = Field(gt=0)
    escalate_after_minutes: int = Field(gt=0)
    expire_after_minutes: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> AckLadder:
        if not (self.remind_after_minutes < self.escalate_after_minutes < self.expire_after_minutes):
            raise ValueError("needs remind_after < escalate_after < expire_after")
        return self


class ApprovalLadder(_Strict):
    deadline_hours: int = Field(gt=0)
    remind_after_hours: int = Field(gt=0)
    escalate_after_hours: int = Field(gt=0)
    expire_after_hours: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> ApprovalLadder:
        if not (self.remind_after_hours < self.escalate_after_hours < self.expire_after_hours):
            raise ValueError("needs remind_after < escalate_after < expire_after")
        return self


class RoutingPolicy(_Strict):
    hot: HotRules
    on_call: str
    ack: AckLadder
    approval: ApprovalLadder
    confidence_floor: float = Field(0.6, ge=0, le=1)
    intent_actions: dict[str, str]
    strategic_phrases: list[str] = []


class PolicySet(_Strict):
    """Every policy file, as loaded together, with the hash of their contents."""

    version: str
    autonomy: AutonomyPolicy
    routing: RoutingPolicy

    @model_validator(mode="after")
    def _routing_actions_exist(self) -> PolicySet:
        unknown = sorted(set(self.routing.intent_actions.values()) - set(self.autonomy.actions))
        if unknown:
            raise ValueError(
                f"routing.intent_actions names actions missing from autonomy.yaml: {unknown}"
            )
        return self
