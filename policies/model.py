"""Typed shape of the policy files. Unknown keys are errors, so a typo never
silently drops a rule."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, ClassVar, Literal, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from contracts.accounts import SEGMENTS, Segment, Stage
from contracts.autonomy import AutonomyLevel, WorkType
from contracts.escalation import Language, Priority, RiskCategory, Severity
from contracts.health import HealthBand
from contracts.knowledge import Grounding
from policies.addresses import email_address


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


Email = Annotated[str, AfterValidator(email_address)]


class Condition(_Strict):
    """Facts about the account (and, for tickets, the ticket) a rule applies to;
    every given field must hold."""

    arr_below: float | None = None
    arr_at_least: float | None = None
    segment_in: list[Segment] | None = None
    stage_in: list[Stage] | None = None
    top_rank_at_most: int | None = None
    hot: bool | None = None
    # Ticket facts: a rule with any of these never matches work that is not a ticket.
    any_risk: bool | None = None  # the ticket has (true) or has no (false) risk category
    risk_in: list[RiskCategory] | None = None  # any of these risk categories
    priority_in: list[Priority] | None = None  # the helpdesk's priority
    severity_at_least: Severity | None = None
    language_in: list[Language] | None = None  # "unknown" when no language was read
    injection: bool | None = None


class Rule(_Strict):
    name: str
    when: Condition
    level: AutonomyLevel


# Who may decide, by role: the account's CSM and their manager, the routing
# policy's on-call, or a team named under `roles` in autonomy.yaml.
ACCOUNT_ROLES = ("owner_csm", "manager", "on_call")


class ActionPolicy(_Strict):
    work_type: WorkType
    default: AutonomyLevel
    rules: list[Rule] = []
    approvers: list[Phrase] = Field(["owner_csm", "manager"], min_length=1)


class ReviewPolicy(_Strict):
    """How a sampled supervised send is graded after the fact."""

    window_hours: float = Field(72, gt=0)  # then the review expires quietly
    reviewers: list[Phrase] = Field(["owner_csm", "manager"], min_length=1)  # by role

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)


class Tuning(_Strict):
    """When `csops policy stats` states the evidence for moving an action × rule:
    left after `min_decisions` human decisions of which at least
    `move_left_unedited_share` were approved unedited; right after `min_decisions`
    graded reviews of which at least `move_right_bad_share` were bad. Suggestions
    only: nothing moves until a person edits the policy."""

    min_decisions: int = Field(50, ge=1)
    move_left_unedited_share: float = Field(0.95, gt=0, le=1)
    move_right_bad_share: float = Field(0.1, gt=0, le=1)


class AutonomyPolicy(_Strict):
    actions: dict[str, ActionPolicy]
    supervised_sample_rate: float = Field(0.2, ge=0, le=1)
    roles: dict[str, list[Email]] = {}  # named teams that may decide, e.g. deal_desk
    tuning: Tuning = Tuning()  # added with policy stats: older snapshots have none
    review: ReviewPolicy = ReviewPolicy()

    @model_validator(mode="after")
    def _known_approvers(self) -> Self:
        known = {*ACCOUNT_ROLES, *self.roles}
        by_field = {f"actions.{n}.approvers": a.approvers for n, a in self.actions.items()}
        by_field["review.reviewers"] = self.review.reviewers
        for field, roles in by_field.items():
            unknown = [r for r in roles if r not in known]
            if unknown:
                raise ValueError(
                    f"{field}: unknown role(s) {', '.join(unknown)}; "
                    f"use {', '.join(ACCOUNT_ROLES)} or a name under roles"
                )
        empty = [r for r, people in self.roles.items() if not people]
        if empty:
            raise ValueError(f"roles: {', '.join(empty)} name(s) nobody")
        return self


class HotRules(_Strict):
    severity_at_least: Severity = "high"
    sentiment_at_most: float = Field(-0.6, ge=-1, le=1)
    phrases: list[Phrase] = []  # an empty phrase would match every ticket
    risks: list[RiskCategory] = []  # risk categories that make a ticket hot on their own


@dataclass(frozen=True)
class Ladder:
    """When a request is due, reminded, escalated to the manager and expired,
    counted from its creation."""

    due: timedelta
    remind: timedelta
    escalate: timedelta
    expire: timedelta


class _LadderSpec(_Strict):
    """A ladder as the policy file writes it: four counts of `UNIT`, declared in
    the order due, remind, escalate, expire."""

    UNIT: ClassVar[timedelta]

    def _steps(self) -> list[int]:
        return [getattr(self, name) for name in type(self).model_fields]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _, remind, escalate, expire = self._steps()
        if not (remind < escalate < expire):
            raise ValueError("needs remind_after < escalate_after < expire_after")
        return self

    def ladder(self) -> Ladder:
        due, remind, escalate, expire = (n * self.UNIT for n in self._steps())
        return Ladder(due=due, remind=remind, escalate=escalate, expire=expire)


# Bounds: a hot ticket's ladder runs out within a week, an approval's within a
# year (a timer beyond the calendar's range would fail the workflow).
ACK_MAX_MINUTES = 7 * 24 * 60
APPROVAL_MAX_HOURS = 365 * 24


class AckLadder(_LadderSpec):
    UNIT = timedelta(minutes=1)
    deadline_minutes: int = Field(gt=0, le=ACK_MAX_MINUTES)
    remind_after_minutes: int = Field(gt=0, le=ACK_MAX_MINUTES)
    escalate_after_minutes: int = Field(gt=0, le=ACK_MAX_MINUTES)
    expire_after_minutes: int = Field(gt=0, le=ACK_MAX_MINUTES)


class ApprovalLadder(_LadderSpec):
    UNIT = timedelta(hours=1)
    deadline_hours: int = Field(gt=0, le=APPROVAL_MAX_HOURS)
    remind_after_hours: int = Field(gt=0, le=APPROVAL_MAX_HOURS)
    escalate_after_hours: int = Field(gt=0, le=APPROVAL_MAX_HOURS)
    expire_after_hours: int = Field(gt=0, le=APPROVAL_MAX_HOURS)


class RoutingPolicy(_Strict):
    hot: HotRules
    on_call: Email
    ack: AckLadder
    approval: ApprovalLadder
    confidence_floor: float = Field(0.6, ge=0, le=1)
    intent_actions: dict[str, str]
    strategic_phrases: list[Phrase] = []
    grounding: Grounding = Grounding()


class UsageCheck(_Strict):
    """On `by_day`, usage of `feature` since the launch must reach `at_least`."""

    feature: str
    measure: Literal["max", "sum"]
    at_least: float = Field(gt=0)
    by_day: int = Field(ge=0, le=60)


class Milestone(_Strict):
    id: str
    title: str
    day: int = Field(ge=0, le=60)
    action: str
    template: str | None = None  # the message; None for a human task (a meeting)
    event: str | None = None  # a customer_event that completes it early
    check: UsageCheck | None = None
    nudge: str | None = None  # template of the intervention when the check fails

    @model_validator(mode="after")
    def _consistent(self) -> Milestone:
        if self.nudge and not self.check:
            raise ValueError("a nudge needs a check to fail")
        if self.check and self.check.by_day < self.day:
            raise ValueError(f"check.by_day {self.check.by_day} is before day {self.day}")
        return self


class Plan(_Strict):
    milestones: list[Milestone] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Plan:
        ids = [m.id for m in self.milestones]
        if len(ids) != len(set(ids)):
            raise ValueError(f"milestone ids repeat: {ids}")
        return self


class Interventions(_Strict):
    csm_alert_arr_at_least: float = Field(ge=0)
    recheck_after_days: int = Field(gt=0)


class OnboardingPolicy(_Strict):
    interventions: Interventions
    plans: dict[str, Plan]
    review_day: int = Field(30, gt=0, le=90)

    @model_validator(mode="after")
    def _a_plan_per_segment(self) -> OnboardingPolicy:
        missing = [s for s in SEGMENTS if s not in self.plans]
        unknown = [s for s in self.plans if s not in SEGMENTS]
        if missing or unknown:
            raise ValueError(
                f"plans: one plan per segment ({', '.join(SEGMENTS)})"
                + (f"; none for {', '.join(missing)}" if missing else "")
                + (f"; unknown segment(s) {', '.join(unknown)}" if unknown else "")
            )
        return self


class SweepSettings(_Strict):
    concurrency: int = Field(gt=0, le=500)
    batch_size: int = Field(gt=0, le=5000)
    batches_per_run: int = Field(gt=0)


def known_timezone(name: str) -> str:
    """An IANA time zone name the system knows (Temporal Schedules need one)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return name


class ScheduleDefaults(_Strict):
    cron: str
    timezone: Annotated[str, AfterValidator(known_timezone)] = "UTC"
    catchup_window_hours: int = Field(gt=0)


class RenewalPolicy(_Strict):
    window_days: int = Field(gt=0, le=365)
    sweep: SweepSettings
    schedule: ScheduleDefaults
    signing_grace_days: int = Field(14, ge=0)


class HealthWeights(_Strict):
    """Each component's weight; they are normalized (divided by their sum), so
    shares or percentages both work. A weight of 0 leaves a component out."""

    usage_trend: float = Field(ge=0)
    usage_breadth: float = Field(ge=0)
    seat_utilisation: float = Field(ge=0)
    tickets: float = Field(ge=0)
    nps: float = Field(ge=0)
    relationships: float = Field(ge=0)
    onboarding: float = Field(ge=0)
    renewal: float = Field(ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        if not sum(self.model_dump().values()):
            raise ValueError("the weights sum to 0; give at least one component a weight")
        return self

    def normalized(self) -> dict[str, float]:
        weights = self.model_dump()
        total = sum(weights.values())
        return {name: w / total for name, w in weights.items()}


class HealthBands(_Strict):
    """healthy at or above `healthy_at_least`, watch at or above `watch_at_least`,
    at_risk below."""

    healthy_at_least: int = Field(gt=0, le=100)
    watch_at_least: int = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.watch_at_least >= self.healthy_at_least:
            raise ValueError("needs watch_at_least < healthy_at_least")
        return self


class Ramp(_Strict):
    """A figure scored linearly: 0 at `zero_at`, 100 at `full_at` (either way round),
    clamped outside."""

    zero_at: float
    full_at: float

    @model_validator(mode="after")
    def _apart(self) -> Self:
        if self.zero_at == self.full_at:
            raise ValueError("zero_at and full_at must differ")
        return self


class TicketThresholds(_Strict):
    recent_days: int = Field(gt=0, le=365)  # tickets created in these days count as recent
    open_penalty: int = Field(ge=0, le=100)  # points off per open ticket
    recent_penalty: int = Field(ge=0, le=100)  # points off per recent ticket
    angry_penalty: int = Field(ge=0, le=100)  # points off per open ticket read as angry


class RelationshipThresholds(_Strict):
    sentiment: Ramp  # average sentiment of champions and decision makers (-1..1)
    stale_days: int = Field(gt=0)  # a key contact not touched for longer is stale
    stale_penalty: int = Field(ge=0, le=100)  # points off per stale key contact
    no_key_contact_score: int = Field(ge=0, le=100)  # no champion and no decision maker


class HealthThresholds(_Strict):
    usage_trend: Ramp  # % change of active users, last 30 vs previous 30 days
    usage_breadth: Ramp  # features used in the last 30 days
    seat_utilisation: Ramp  # % of licensed seats active (30-day average)
    tickets: TicketThresholds
    nps_window_days: int = Field(gt=0, le=365)
    nps: Ramp  # promoters minus detractors, % of responses (-100..100)
    no_nps_score: int = Field(ge=0, le=100)  # no response in the window
    relationships: RelationshipThresholds
    # The account's stage -> sub-score; keyed by str because the account's facts say
    # str, with every stage required and no other allowed.
    onboarding: dict[str, Annotated[int, Field(ge=0, le=100)]]
    renewal: Ramp  # days to the renewal date

    @model_validator(mode="after")
    def _every_stage(self) -> Self:
        stages = get_args(Stage)
        missing = [s for s in stages if s not in self.onboarding]
        unknown = [s for s in self.onboarding if s not in stages]
        if missing or unknown:
            raise ValueError(
                "onboarding: one score per stage"
                + (f"; no score for stage(s) {', '.join(missing)}" if missing else "")
                + (f"; unknown stage(s) {', '.join(unknown)}" if unknown else "")
            )
        return self


class HealthSweep(_Strict):
    """The nightly health sweep: accounts per activity, batches per workflow run
    (then it continues as new, so its history stays small on a large book)."""

    cron: str = "30 1 * * *"  # before the renewal sweep, so its briefs see tonight's
    timezone: Annotated[str, AfterValidator(known_timezone)] = "UTC"
    catchup_window_hours: int = Field(6, gt=0)
    batch_size: int = Field(200, ge=1, le=5_000)
    batches_per_run: int = Field(25, ge=1)


class AnomalyDetector(_Strict):
    """A drop in one feature's daily usage, judged against the account's own recent
    past, not by a fixed percentage: the modified z-score (Iglewicz and Hoaglin,
    1993) of the mean of the last `recent_days` against the daily values of the
    `baseline_days` before them, z = 0.6745 x (recent mean - median) / MAD. A drop
    is anomalous when z <= `z_at_most` (-3.5 is their outlier cut-off). A flat
    baseline (MAD 0) uses 1.2533 x the mean absolute deviation instead; a baseline
    averaging under `min_baseline_mean` is too little use to judge."""

    feature: str = "active_users"
    baseline_days: int = Field(28, ge=7, le=180)
    recent_days: int = Field(7, ge=1, le=30)
    z_at_most: float = Field(-3.5, lt=0)
    min_baseline_mean: float = Field(1.0, ge=0)

    # The detector reads the renewal package's 13 weeks of daily usage.
    MAX_SPAN_DAYS: ClassVar[int] = 91

    @model_validator(mode="after")
    def _inside_the_usage_read(self) -> Self:
        if (span := self.recent_days + self.baseline_days) > self.MAX_SPAN_DAYS:
            raise ValueError(
                f"recent_days + baseline_days is {span}; the detector reads "
                f"{self.MAX_SPAN_DAYS} days of usage"
            )
        return self


class RiskAgent(_Strict):
    """When the Risk agent acts: a band worse than the day before, a usage anomaly,
    or an NPS response at or under `detractor_at_most` (0-10). Accounts with ARR at
    or above `csm_task_at_arr_at_least` also get a task for their CSM."""

    detractor_at_most: int = Field(6, ge=0, le=10)
    csm_task_at_arr_at_least: float = Field(50_000, ge=0)


class GrowthAgent(_Strict):
    """When the Growth agent drafts an expansion play: usage outgrows the plan (the
    renewal package's expansion rules) and the account's band is one of
    `play_in_bands`, with no usage anomaly; never for an account at risk."""

    play_in_bands: list[HealthBand] = ["healthy", "watch"]

    @model_validator(mode="after")
    def _never_at_risk(self) -> Self:
        if "at_risk" in self.play_in_bands:
            raise ValueError("play_in_bands: an account at risk gets no expansion play")
        return self


class HealthDigest(_Strict):
    """The weekly health digest per CSM (Schedule health-digest-weekly): when it goes
    out, and how long after a missed run it is still worth sending."""

    cron: str = "0 7 * * 1"  # Monday morning: the week ahead starts from it
    timezone: Annotated[str, AfterValidator(known_timezone)] = "UTC"
    catchup_window_hours: int = Field(12, gt=0)


class HealthPolicy(_Strict):
    weights: HealthWeights
    bands: HealthBands
    thresholds: HealthThresholds
    sweep: HealthSweep = HealthSweep()
    anomaly: AnomalyDetector = AnomalyDetector()
    risk: RiskAgent = RiskAgent()
    growth: GrowthAgent = GrowthAgent()
    digest: HealthDigest = HealthDigest()


class PolicySet(_Strict):
    """Every policy file, as loaded together, with the hash of their contents.

    Workflows keep this snapshot in their history, so running workflows decode
    it again after an upgrade: a part added later must be optional here (the
    loader always fills it), or old histories stop replaying.
    """

    version: str
    autonomy: AutonomyPolicy
    routing: RoutingPolicy
    onboarding: OnboardingPolicy | None = None  # added after the first escalations shipped
    renewal: RenewalPolicy | None = None  # added with the renewal packages
    health: HealthPolicy | None = None  # added with the health score

    @model_validator(mode="after")
    def _actions_exist(self) -> PolicySet:
        known = set(self.autonomy.actions)
        unknown = sorted(set(self.routing.intent_actions.values()) - known)
        if unknown:
            raise ValueError(
                f"routing.intent_actions names actions missing from autonomy.yaml: {unknown}"
            )
        plans = self.onboarding.plans if self.onboarding else {}
        for segment, plan in plans.items():
            for m in plan.milestones:
                if m.action not in known:
                    raise ValueError(
                        f"onboarding.plans.{segment}.{m.id}: action {m.action!r} "
                        "is missing from autonomy.yaml"
                    )
        return self


# One decoded snapshot per version for all the workflows of a process: each open
# workflow keeps its snapshot (about 63 KiB decoded), and nearly all keep the same
# version. Weak values: a version no workflow holds any more is freed.
_SHARED_SNAPSHOTS: weakref.WeakValueDictionary[str, PolicySet] = weakref.WeakValueDictionary()


def shared_snapshot(snapshot: PolicySet) -> PolicySet:
    """`snapshot`, or an equal one decoded before it (the models are frozen, so a
    workflow cannot change what another holds)."""
    kept = _SHARED_SNAPSHOTS.setdefault(snapshot.version, snapshot)
    return kept if kept == snapshot else snapshot
