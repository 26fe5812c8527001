"""Autonomy decisions as the audit log recorded them: the figures per action × rule ×
level (`csops policy stats`, the outcome report) and the decisions themselves with
the facts they rested on (`csops policy simulate`). Pure reads, no Temporal.

A request's rows share a key: `{workflow}/{request}/requested` when it opens (its
draft in the detail), `{workflow}/{request}/{status}` when it closes (the final text,
whether the ladder escalated). Reviews are requests of kind `review`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import fmean, median
from typing import Any

from rapidfuzz.distance import Levenshtein
from sqlalchemy import Row, select
from sqlmodel import Session

from context.tables import AuditEvent, table
from contracts.policy_evidence import DecisionFigures

AUDIT = table(AuditEvent)
HUMAN_DECISIONS = ("approved", "edited", "rejected", "acked", "done")
CLOSED = (*HUMAN_DECISIONS, "expired", "withdrawn")
REVIEW_CLOSED = ("good", "bad", "expired")
# Rows that follow a decision rather than make one.
FOLLOW_UPS = frozenset({*CLOSED, "good", "bad", "requested", "superseded", "refused", "asked"})
ACTS_ALONE = ("autonomous", "supervised")
# One query's worth of keys (SQLite allows 32766 bound parameters).
KEYS_PER_QUERY = 10_000


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; csops stores them in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _detail(row: Row) -> dict[str, Any]:
    return row.detail or {}


def _is_review(row: Row) -> bool:
    return _detail(row).get("kind") == "review"


def _request_key(row: Row) -> str:
    """The key a request's opening and closing rows share."""
    return row.idempotency_key.rsplit("/", 1)[0]


def _placed(s: Session, since: datetime, until: datetime) -> list[Row]:
    """Every row in the window that carries a policy decision, oldest first."""
    return list(
        s.connection().execute(
            select(AUDIT)
            .where(AUDIT.c.autonomy.is_not(None), AUDIT.c.at >= since, AUDIT.c.at < until)
            .order_by(AUDIT.c.at, AUDIT.c.id)
        )
    )


def _openings(s: Session, request_keys: set[str]) -> dict[str, Row]:
    """The `requested` rows of these requests, whenever they were opened."""
    keys = sorted(f"{k}/requested" for k in request_keys)
    found: dict[str, Row] = {}
    for i in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[i : i + KEYS_PER_QUERY]
        for row in s.connection().execute(select(AUDIT).where(AUDIT.c.idempotency_key.in_(chunk))):
            found[_request_key(row)] = row
    return found


@dataclass
class _Tally:
    figures: DecisionFigures
    distances: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def decision_figures(s: Session, since: datetime, until: datetime) -> list[DecisionFigures]:
    """Per action × rule × level, what happened to the agent's work at or after
    `since` and before `until`, from the audit log alone; sorted by action, rule, level.

    Edit distance: normalized Levenshtein distance (0 same, 1 nothing in common)
    between an edited request's draft and its final text. Time to decision: from a
    request's opening to a person's decision (expiries and withdrawals excluded).
    """
    rows = _placed(s, since, until)
    closings = [r for r in rows if r.outcome in CLOSED and not _is_review(r)]
    opened = _openings(s, {_request_key(r) for r in closings})
    tallies: dict[tuple[str, str, str], _Tally] = {}
    for row in rows:
        key = (row.action, row.policy_rule or "", row.autonomy)
        if key not in tallies:
            tallies[key] = _Tally(DecisionFigures(action=key[0], rule=key[1], level=key[2]))
        t, f, detail = tallies[key], tallies[key].figures, _detail(row)
        if _is_review(row):
            if row.outcome == "requested":
                f.reviews_requested += 1
            elif row.outcome == "good":
                f.reviews_good += 1
            elif row.outcome == "bad":
                f.reviews_bad += 1
                reason = str(detail.get("reason") or "other")
                f.bad_reasons = {**f.bad_reasons, reason: f.bad_reasons.get(reason, 0) + 1}
            elif row.outcome == "expired":
                f.reviews_expired += 1
        elif row.outcome == "requested":
            f.requested += 1
        elif row.outcome in CLOSED:
            setattr(f, row.outcome, getattr(f, row.outcome) + 1)
            f.escalations += bool(detail.get("escalated"))
            opening = opened.get(_request_key(row))
            if opening is not None and row.outcome in HUMAN_DECISIONS:
                t.seconds.append((_utc(row.at) - _utc(opening.at)).total_seconds())
            if opening is not None and row.outcome == "edited":
                draft, final = _detail(opening).get("draft"), detail.get("final_text")
                if draft is not None and final is not None:
                    t.distances.append(Levenshtein.normalized_distance(draft, final))
        elif (
            row.actor == "agent"
            and row.autonomy in ACTS_ALONE
            and row.outcome not in FOLLOW_UPS
            and row.outcome != "failed"
        ):
            f.acted += 1
    for t in tallies.values():
        t.figures.edit_distance_mean = fmean(t.distances) if t.distances else None
        t.figures.decision_seconds_median = median(t.seconds) if t.seconds else None
    return [tallies[k].figures for k in sorted(tallies)]


@dataclass(frozen=True)
class RecordedDecision:
    """One placement of an action as the audit log kept it: the row where the agent
    acted (or failed to) or the request it opened. `facts` is None for decisions
    recorded before they carried them."""

    at: datetime
    workflow_id: str
    account_id: str
    action: str
    rule: str
    level: str
    facts: dict[str, Any] | None
    adjustments: tuple[str, ...]


def recorded_decisions(s: Session, since: datetime, until: datetime) -> list[RecordedDecision]:
    """Every decision made at or after `since` and before `until`, oldest first: one
    per request opened (reviews aside: they grade a decision, they are none) and one
    per action the agent took or attempted alone."""
    found = []
    for row in _placed(s, since, until):
        opens_request = row.outcome == "requested" and not _is_review(row)
        acts = row.actor == "agent" and row.outcome not in FOLLOW_UPS
        if not (opens_request or acts):
            continue
        detail = _detail(row)
        found.append(
            RecordedDecision(
                at=_utc(row.at),
                workflow_id=row.workflow_id,
                account_id=row.account_id,
                action=row.action,
                rule=row.policy_rule or "",
                level=row.autonomy,
                facts=detail.get("facts") or None,
                adjustments=tuple(detail.get("adjustments") or ()),
            )
        )
    return found
