"""What the audit log says about each autonomy placement: the figures `csops policy
stats` and the outcome report read (context.decisions.decision_figures)."""

from __future__ import annotations

from pydantic import BaseModel, computed_field


def share(part: int, whole: int) -> float | None:
    """`part` of `whole` (0-1), None when there is nothing to divide."""
    return part / whole if whole else None


class DecisionFigures(BaseModel):
    """One action kind at one rule and level, over a window of the audit log.

    Requests count those opened in the window; decisions, expiries and reviews those
    closed in it. Reviews grade supervised sends after the fact and are counted apart
    from the requests that block work.
    """

    action: str
    rule: str
    level: str
    acted: int = 0  # the agent acted alone (autonomous or supervised)
    requested: int = 0  # requests of a person (approval, task, acknowledgement)
    approved: int = 0  # approved as drafted
    edited: int = 0  # approved with changes
    rejected: int = 0
    acked: int = 0  # acknowledgements (hot escalations)
    done: int = 0  # tasks a person did
    expired: int = 0  # nobody decided in time: the safe default applied
    withdrawn: int = 0  # the agent took the request back
    escalations: int = 0  # requests whose ladder reached the manager
    reviews_requested: int = 0
    reviews_good: int = 0
    reviews_bad: int = 0
    reviews_expired: int = 0
    bad_reasons: dict[str, int] = {}  # reason -> bad reviews
    edit_distance_mean: float | None = None  # normalized Levenshtein, draft vs final (0-1)
    decision_seconds_median: float | None = None  # request opened -> a person decided

    @computed_field  # type: ignore[prop-decorator]
    @property
    def decided(self) -> int:
        """Approvals decided by a person: approved, edited or rejected."""
        return self.approved + self.edited + self.rejected

    @computed_field  # type: ignore[prop-decorator]
    @property
    def approval_rate(self) -> float | None:
        """Approved unedited, of the decided."""
        return share(self.approved, self.decided)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def edit_rate(self) -> float | None:
        return share(self.edited, self.decided)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rejection_rate(self) -> float | None:
        return share(self.rejected, self.decided)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def bad_review_rate(self) -> float | None:
        """Graded bad, of the graded reviews."""
        return share(self.reviews_bad, self.reviews_good + self.reviews_bad)


class Suggestion(BaseModel):
    """Evidence for moving one action × rule along the spectrum (never applied)."""

    action: str
    rule: str
    level: str
    direction: str  # "left" (less human) or "right" (more human)
    evidence: str  # the sentence a person reads


class PolicyMove(BaseModel):
    """Recorded decisions a candidate policy places differently."""

    action: str
    from_rule: str
    from_level: str
    to_rule: str
    to_level: str
    direction: str  # "left" (less human) or "right" (more human)
    decisions: int


class RequestChange(BaseModel):
    """Human requests a candidate policy adds or removes for one CSM in one ISO week."""

    csm: str
    week: str  # ISO week, e.g. 2026-W47
    added: int = 0
    removed: int = 0
