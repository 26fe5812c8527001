"""The standing account health score, computed from the context database with the
weights and thresholds of policies/health.yaml, and its history.

Pure reads and one idempotent write, no Temporal: the nightly sweep's activity and
`csops health` call `record_health` alike. Each component's sub-score is 0-100;
the score is the sum of sub-score x normalized weight, rounded. The usage figures
are the renewal package's (`usage_report`: active users as an average per day,
last 30 days vs the 30 before, both ending at `as_of`).

Components and their rules (a ramp scores 0 at `zero_at`, 100 at `full_at`):
- usage_trend: ramp of the active users' change %; no active users before: 100
  when there are some now (a new account ramping up), else 0;
- usage_breadth: ramp of the features used (any value) in the last 30 days;
- seat_utilisation: ramp of the 30-day seat utilisation %;
- tickets: 100 minus the penalties per open ticket, per ticket created in the
  last `recent_days` and per open ticket the judge reads as angry (at least 0);
  only tickets created by the end of `as_of` count;
- nps: ramp of the NPS (% promoters - % detractors) of the responses in the
  window's days ending at `as_of`; `no_nps_score` without responses;
- relationships: over champions and decision makers, ramp of their average
  sentiment minus the penalty per one not touched in over `stale_days` days (or
  never); `no_key_contact_score` without any;
- onboarding: the score the policy gives the account's stage;
- renewal: ramp of the days from `as_of` to the renewal date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from context.db import session
from context.queries import account_facts
from context.renewal_sections import (
    CHAMPION_ROLE,
    AngerJudge,
    contacts_of,
    daily_usage,
    day_start,
    nps_of,
    usage_report,
)
from context.tables import OPEN_TICKET_STATUSES, HealthScore, NpsResponse, SupportTicket
from contracts.accounts import AccountFacts
from contracts.health import AccountHealth, ComponentName, HealthBand, HealthComponent
from contracts.renewal import UsageReport
from policies.model import HealthBands, HealthThresholds, PolicySet, Ramp

# Given the account, how its open tickets read (the escalation's keyword rules, from
# the caller: the context layer does not import the engines).
JudgeFor = Callable[[AccountFacts], AngerJudge]


def ramp(value: float, r: Ramp) -> int:
    """0 at r.zero_at, 100 at r.full_at, linear between, clamped; rounded."""
    share = (value - r.zero_at) / (r.full_at - r.zero_at)
    return round(min(1.0, max(0.0, share)) * 100)


def band_of(score: int, bands: HealthBands) -> HealthBand:
    if score >= bands.healthy_at_least:
        return "healthy"
    return "watch" if score >= bands.watch_at_least else "at_risk"


def _component(
    name: ComponentName, score: int, summary: str, figures: dict, records: list[str]
) -> dict:
    return {
        "name": name,
        "score": score,
        "summary": summary,
        "figures": figures,
        "records": records,
    }


def _usage(usage: UsageReport, t: HealthThresholds) -> list[dict]:
    users = next(f for f in usage.features if f.feature == "active_users")
    change = users.change_pct
    trend = ramp(change, t.usage_trend) if change is not None else 100 * (users.last_30 > 0)
    used = [f.feature for f in usage.features if f.last_30 > 0]
    records = ["usage:active_users"]
    return [
        _component(
            "usage_trend",
            trend,
            f"active users {users.last_30:g}/day vs {users.previous_30:g}/day "
            f"({'n/a' if change is None else f'{change:+g}%'}), last 30 vs previous 30 days",
            {"last_30": users.last_30, "previous_30": users.previous_30, "change_pct": change},
            records,
        ),
        _component(
            "usage_breadth",
            ramp(len(used), t.usage_breadth),
            f"{len(used)} of {len(usage.features)} features used in the last 30 days",
            {
                "features_used": len(used),
                "features_known": len(usage.features),
                "used": ", ".join(used),
            },
            [f"usage:{f}" for f in used],
        ),
        _component(
            "seat_utilisation",
            ramp(usage.seat_utilisation_pct, t.seat_utilisation),
            f"{usage.seat_utilisation_pct:g}% of {usage.seats:,} seats "
            f"({usage.avg_active_users_30d:g} active users/day)",
            {
                "utilisation_pct": usage.seat_utilisation_pct,
                "seats": usage.seats,
                "avg_active_users_30d": usage.avg_active_users_30d,
            },
            records,
        ),
    ]


def _tickets(
    s: Session, facts: AccountFacts, as_of: date, t: HealthThresholds, judge: AngerJudge | None
) -> dict:
    rules = t.tickets
    end = day_start(as_of + timedelta(days=1))
    since = day_start(as_of - timedelta(days=rules.recent_days - 1))
    is_recent = (col(SupportTicket.created_at) >= since).label("recent")
    rows = s.exec(
        select(SupportTicket, is_recent)
        .where(
            SupportTicket.account_id == facts.account_id,
            SupportTicket.created_at < end,
            or_(
                col(SupportTicket.status).in_(OPEN_TICKET_STATUSES),
                col(SupportTicket.created_at) >= since,
            ),
        )
        .order_by(col(SupportTicket.created_at), col(SupportTicket.id))
    ).all()
    open_ = [r for r, _ in rows if r.status in OPEN_TICKET_STATUSES]
    recent = [r for r, fresh in rows if fresh]
    angry = [r for r in open_ if judge and judge(r, len(open_))[0]]
    score = max(
        0,
        100
        - rules.open_penalty * len(open_)
        - rules.recent_penalty * len(recent)
        - rules.angry_penalty * len(angry),
    )
    return _component(
        "tickets",
        score,
        f"{len(open_)} open ({len(angry)} angry), {len(recent)} created in the last "
        f"{rules.recent_days} days",
        {"open": len(open_), "recent": len(recent), "angry": len(angry)},
        [f"ticket:{r.id}" for r, _ in rows],
    )


def _nps_component(s: Session, account_id: str, as_of: date, t: HealthThresholds) -> dict:
    rows = s.exec(
        select(NpsResponse)
        .where(
            NpsResponse.account_id == account_id,
            NpsResponse.at >= day_start(as_of - timedelta(days=t.nps_window_days - 1)),
            NpsResponse.at < day_start(as_of + timedelta(days=1)),
        )
        .order_by(col(NpsResponse.at), col(NpsResponse.id))
    ).all()
    nps, promoters, detractors = nps_of([r.score for r in rows])
    return _component(
        "nps",
        t.no_nps_score if nps is None else ramp(nps, t.nps),
        f"NPS {'n/a' if nps is None else f'{nps:+g}'} from {len(rows)} response(s) "
        f"in {t.nps_window_days} days ({promoters} promoters, {detractors} detractors)",
        {"nps": nps, "responses": len(rows), "promoters": promoters, "detractors": detractors},
        [f"nps:{r.id}" for r in rows],
    )


def _relationships(s: Session, account_id: str, as_of: date, t: HealthThresholds) -> dict:
    rules = t.relationships
    key = [
        c for c in contacts_of(s, account_id) if c.is_decision_maker or CHAMPION_ROLE.search(c.role)
    ]
    days = {f"contact:{c.id}": (as_of - c.last_touch).days if c.last_touch else None for c in key}
    if not key:
        return _component(
            "relationships", rules.no_key_contact_score, "no champion or decision maker", {}, []
        )
    sentiment = round(sum(c.sentiment for c in key) / len(key), 2)
    stale = [ref for ref, d in days.items() if d is None or d > rules.stale_days]
    touched = [d for d in days.values() if d is not None]
    return _component(
        "relationships",
        max(0, ramp(sentiment, rules.sentiment) - rules.stale_penalty * len(stale)),
        f"{len(key)} champion(s)/decision maker(s), sentiment {sentiment:+.2f}, "
        f"{len(stale)} not touched in {rules.stale_days} days",
        {
            "key_contacts": len(key),
            "avg_sentiment": sentiment,
            "stale": len(stale),
            "last_touch_days": min(touched, default=None),
            **days,
        },
        list(days),
    )


def compute_health(
    s: Session,
    account_id: str,
    as_of: date,
    policies: PolicySet,
    judge_for: JudgeFor | None = None,
    now: datetime | None = None,
) -> AccountHealth:
    """The account's health as of `as_of` (nothing written), its trend against the
    latest stored score of an earlier day.

    Raises:
        NotFound: the account is not in the context database.
    """
    if policies.health is None:  # the loader always fills it; a snapshot may not
        raise ValueError("the policy set has no health policy (policies/health.yaml)")
    policy = policies.health
    t = policy.thresholds
    facts = account_facts(s, account_id)
    usage = usage_report(facts, as_of, daily_usage(s, account_id, as_of))
    days_left = (facts.renewal_date - as_of).days
    parts = [
        *_usage(usage, t),
        _tickets(s, facts, as_of, t, judge_for(facts) if judge_for else None),
        _nps_component(s, account_id, as_of, t),
        _relationships(s, account_id, as_of, t),
        _component(
            "onboarding",
            t.onboarding[facts.stage],
            f"stage {facts.stage}",
            {"stage": facts.stage},
            [f"account:{account_id}"],
        ),
        _component(
            "renewal",
            ramp(days_left, t.renewal),
            f"renews {facts.renewal_date} ({days_left} days)",
            {"renewal_date": facts.renewal_date.isoformat(), "days_to_renewal": days_left},
            [f"account:{account_id}"],
        ),
    ]
    weights = policy.weights.normalized()
    components = [HealthComponent(weight=weights[p["name"]], **p) for p in parts]
    score = round(sum(c.weight * c.score for c in components))
    previous = s.exec(
        select(HealthScore.score)
        .where(HealthScore.account_id == account_id, HealthScore.as_of < as_of)
        .order_by(col(HealthScore.as_of).desc())
        .limit(1)
    ).first()
    return AccountHealth(
        account_id=account_id,
        account_name=facts.name,
        as_of=as_of,
        computed_at=now or datetime.now(UTC),
        score=score,
        band=band_of(score, policy.bands),
        trend=None if previous is None else score - previous,
        previous_score=previous,
        weakest=min(components, key=lambda c: (c.score, -c.weight)).name,
        components=components,
        policy_version=policies.version,
    )


_STORED = {"account_id", "computed_at", "as_of", "score", "band", "policy_version"}


def store_health(s: Session, health: AccountHealth) -> None:
    """Write the score to the history: one row per account and day, so computing a
    day again replaces that day's row (idempotent) and keeps the earlier days."""
    s.exec(
        delete(HealthScore).where(
            col(HealthScore.account_id) == health.account_id,
            col(HealthScore.as_of) == health.as_of,
        )
    )
    s.add(
        HealthScore(
            **health.model_dump(include=_STORED),
            components=[c.model_dump(mode="json") for c in health.components],
        )
    )
    s.commit()


def record_health(
    engine: Engine,
    account_id: str,
    as_of: date,
    policies: PolicySet,
    judge_for: JudgeFor | None = None,
) -> AccountHealth:
    """Compute the account's health and store it (the entry point of a sweep's
    activity: safe to run twice on a day)."""
    with session(engine) as s:
        health = compute_health(s, account_id, as_of, policies, judge_for)
        store_health(s, health)
    return health
