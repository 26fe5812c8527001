"""What the nightly sweep finds for one account, beside the score it just recorded:
what the Risk agent acts on (a worse band, a usage anomaly, NPS detractors) and what
the Growth agent acts on (usage outgrowing the plan while risk is low). Pure reads.

`watch_findings(s, health, policies)` takes the score just recorded for
`health.as_of`. "The previous score" is the account's latest stored HealthScore of
an earlier day.

- crossing: the band is worse than the previous score's (healthy > watch > at_risk).
- anomaly (policies/health.yaml `anomaly`, one feature's daily series): the modified
  z-score (Iglewicz and Hoaglin) of the mean of the last `recent_days` (ending at
  as_of) against the daily values of the `baseline_days` before them:
  z = 0.6745 x (recent mean - baseline median) / MAD, MAD = the median of the
  baseline's absolute deviations from its median. A flat baseline (MAD 0) uses
  z = (recent mean - median) / (1.2533 x MeanAD), MeanAD = the mean absolute
  deviation from the baseline's mean (both denominators estimate the standard
  deviation of normal data, so the cut-off means the same); `baseline_mad` reports
  the spread used (the MAD, or 1.2533 x MeanAD). Flagged when z <= `z_at_most`.
  The series is the renewal package's `daily_usage` (13 weeks ending at as_of).
  A day without a row counts as 0 only from the account's first day of any usage
  in that read on: an account that stops using the product drops to 0, while the
  days before its data begins are not days of its baseline at all. No anomaly is
  judged when the baseline so has fewer than MIN_BASELINE_DAYS days (a young
  account), when its mean is under `min_baseline_mean` (too little use to judge),
  or when it has no spread at all (MAD and MeanAD 0: no scale to measure by).
- detractors: NPS responses scored at or under `risk.detractor_at_most` whose `at`
  falls after the previous score's day and by the end of as_of (without a previous
  score: within the anomaly's `recent_days` ending at as_of), oldest first.
- expansion: the renewal package's own expansion recommendation (its usage report,
  risk assessment and first usage day, called as the package calls them), kept only
  when recommended, the band is one of `growth.play_in_bands` and there is no
  anomaly.
"""

from __future__ import annotations

from datetime import date, timedelta
from statistics import fmean, median

from sqlmodel import Session, col, select

from context.health import JudgeFor
from context.queries import account_facts
from context.renewal_sections import (
    contacts_of,
    conversations,
    daily_usage,
    day_start,
    expansion_recommendation,
    first_usage_day,
    risk_assessment,
    usage_report,
)
from context.tables import HealthScore, NpsResponse
from contracts.health import (
    AccountHealth,
    BandCrossing,
    Detractor,
    ExpansionSignal,
    UsageAnomaly,
    WatchFindings,
)
from policies.model import AnomalyDetector, HealthPolicy, PolicySet

BAND_RANK: dict[str, int] = {"healthy": 0, "watch": 1, "at_risk": 2}  # worse is higher
MAD_SCALE = 0.6745  # MAD / 0.6745 estimates the standard deviation of normal data
MEAN_AD_SCALE = 1.2533  # ... as 1.2533 x the mean absolute deviation does
MIN_BASELINE_DAYS = 7  # the shortest baseline policies/model.py allows
# What each part of the expansion recommendation was computed from.
EXPANSION_RECORDS = {
    "seats": "usage:active_users",
    "api_volume": "usage:api_calls",
    "agent_resolutions": "usage:agent_resolutions",
}


def _no_anger(*_: object) -> tuple[bool, float]:
    return False, 0.0


def _previous(s: Session, health: AccountHealth) -> HealthScore | None:
    return s.exec(
        select(HealthScore)
        .where(HealthScore.account_id == health.account_id, HealthScore.as_of < health.as_of)
        .order_by(col(HealthScore.as_of).desc())
        .limit(1)
    ).first()


def _crossing(health: AccountHealth, previous: HealthScore | None) -> BandCrossing | None:
    if previous is None:
        return None
    if BAND_RANK[health.band] <= BAND_RANK[previous.band]:
        return None
    return BandCrossing(
        from_band=previous.band,
        to_band=health.band,
        from_score=previous.score,
        to_score=health.score,
        since=previous.as_of,
    )


def usage_anomaly(
    daily: dict[str, dict[date, float]], as_of: date, rules: AnomalyDetector
) -> UsageAnomaly | None:
    """The detector of the module docstring over the series `daily_usage` read.
    The standard library's statistics: 28 values need no arrays, and numpy is no
    dependency of csops' own (matplotlib brings it)."""
    first = first_usage_day(daily)
    if first is None:
        return None
    series = daily.get(rules.feature, {})
    recent_days = [as_of - timedelta(days=i) for i in reversed(range(rules.recent_days))]
    baseline_days = [
        day
        for i in reversed(range(rules.baseline_days))
        if (day := recent_days[0] - timedelta(days=i + 1)) >= first
    ]
    if len(baseline_days) < MIN_BASELINE_DAYS:
        return None
    baseline = [series.get(d, 0.0) for d in baseline_days]
    mean = fmean(baseline)
    if mean < rules.min_baseline_mean:
        return None
    recent_mean = fmean(series.get(d, 0.0) for d in recent_days)
    middle = median(baseline)
    mad = median(abs(v - middle) for v in baseline)
    if mad > 0:
        spread, z = mad, MAD_SCALE * (recent_mean - middle) / mad
    else:
        spread = MEAN_AD_SCALE * fmean(abs(v - mean) for v in baseline)
        if spread == 0:
            return None
        z = (recent_mean - middle) / spread
    if z > rules.z_at_most:
        return None
    return UsageAnomaly(
        feature=rules.feature,
        recent_days=rules.recent_days,
        recent_mean=recent_mean,
        baseline_days=len(baseline_days),
        baseline_median=middle,
        baseline_mad=spread,
        z=z,
        z_at_most=rules.z_at_most,
        records=[f"usage:{rules.feature}:{d.isoformat()}" for d in recent_days],
    )


def _detractors(
    s: Session, health: AccountHealth, previous: HealthScore | None, policy: HealthPolicy
) -> list[Detractor]:
    since = (
        previous.as_of + timedelta(days=1)
        if previous is not None
        else health.as_of - timedelta(days=policy.anomaly.recent_days - 1)
    )
    rows = s.exec(
        select(NpsResponse)
        .where(
            NpsResponse.account_id == health.account_id,
            NpsResponse.score <= policy.risk.detractor_at_most,
            NpsResponse.at >= day_start(since),
            NpsResponse.at < day_start(health.as_of + timedelta(days=1)),
        )
        .order_by(col(NpsResponse.at), col(NpsResponse.id))
    ).all()
    return [
        Detractor(
            response_id=r.id,
            score=r.score,
            at=r.at,
            contact_email=r.contact_email,
            comment=r.comment,
        )
        for r in rows
        if r.id is not None  # stored rows have their id
    ]


def _expansion(
    s: Session,
    health: AccountHealth,
    daily: dict[str, dict[date, float]],
    judge_for: JudgeFor | None,
) -> ExpansionSignal | None:
    facts = account_facts(s, health.account_id)
    usage = usage_report(facts, health.as_of, daily)
    risk = risk_assessment(
        s,
        facts,
        health.as_of,
        usage,
        contacts_of(s, facts.account_id),
        judge_for(facts) if judge_for else _no_anger,
        conversations(s, facts.account_id, health.as_of),
    )
    rec = expansion_recommendation(facts, usage, risk, first_usage_day(daily))
    if not rec.recommended:
        return None
    parts = [*(["seats"] if rec.suggested_seats else []), *rec.add_ons]
    if rec.next_plan:
        parts.append("api_volume")  # the next plan tier answers API-call growth
    return ExpansionSignal(
        suggestions=rec.suggestions,
        evidence=rec.evidence,
        suggested_seats=rec.suggested_seats,
        next_plan=rec.next_plan,
        add_ons=rec.add_ons,
        records=sorted({EXPANSION_RECORDS[p] for p in parts}),
    )


def watch_findings(
    s: Session, health: AccountHealth, policies: PolicySet, judge_for: JudgeFor | None = None
) -> WatchFindings:
    """What the Risk and Growth agents may act on for the account, given the score
    just recorded for `health.as_of` (see the module docstring).

    Args:
        judge_for: how the account's open tickets read, for the renewal risk that
            gates the expansion: pass `activities.renewal_sections.anger_judge`, as
            the renewal package and the health sweep do (without it no ticket
            reads as angry).

    Raises:
        NotFound: the account is not in the context database.
        ValueError: the policy set has no health policy, or its anomaly windows are
            longer than the usage read.
    """
    if policies.health is None:  # the loader always fills it; a snapshot may not
        raise ValueError("the policy set has no health policy (policies/health.yaml)")
    policy = policies.health
    previous = _previous(s, health)
    daily = daily_usage(s, health.account_id, health.as_of)
    anomaly = usage_anomaly(daily, health.as_of, policy.anomaly)
    grows = health.band in policy.growth.play_in_bands and anomaly is None
    return WatchFindings(
        account_id=health.account_id,
        health=health,
        crossing=_crossing(health, previous),
        anomaly=anomaly,
        detractors=_detractors(s, health, previous, policy),
        expansion=_expansion(s, health, daily, judge_for) if grows else None,
    )
