"""The renewal package's sections, computed from the context database: usage,
ROI, risk (with the records behind each claim), expansion, the decision-maker map,
commercial history and requests for non-standard terms.

Every figure comes from the data and the rules below, never from a model: the
same database and `as_of` always give the same package. The constants are the
rules; each function's docstring says how it computes.

Windows (all inclusive, all ending at `as_of`, the last day of data covered):
- the 90-day window: as_of-89 .. as_of;
- last 30 days: as_of-29 .. as_of; previous 30 days: as_of-59 .. as_of-30;
- 13 weeks: 13 x 7 days ending at as_of (as_of-90 .. as_of; the oldest week
  starts one day before the 90-day window).

Gauges (active users, connected integrations) are levels, so a period's figure
is their average per calendar day, a day without a row counting as 0 (an
account signed inside the window averages lower). Everything else is work done,
so a period's figure is its sum.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import func
from sqlmodel import Session, col, select

from context.tables import (
    OPEN_TICKET_STATUSES,
    AuditEvent,
    CallTranscript,
    Contact,
    ContractTerm,
    CrmNote,
    NpsResponse,
    SupportTicket,
    UsageDaily,
)
from contracts.accounts import AccountFacts
from contracts.renewal import (
    CommercialTerm,
    DecisionMaker,
    DecisionMakerMap,
    EvidenceLink,
    ExpansionRecommendation,
    FeatureTrend,
    RiskAssessment,
    RiskFactor,
    RiskLevel,
    RoiProof,
    UsageReport,
)

# Whether an open ticket reads as angry, and its sentiment: the caller's judge
# (the escalation workflow's own rules), given the ticket and the open count.
AngerJudge = Callable[[SupportTicket, int], tuple[bool, float]]

# ---------------------------------------------------------------- windows

WINDOW_DAYS = 90
MONTH_DAYS = 30
WEEKS = 13

FEATURE_ORDER = ("active_users", "agent_resolutions", "api_calls", "integrations", "reports")
GAUGE_FEATURES = frozenset({"active_users", "integrations"})  # averaged per day, not summed
FEATURE_LABELS = {
    "active_users": "active users",
    "agent_resolutions": "agent resolutions",
    "api_calls": "API calls",
    "integrations": "integrations",
    "reports": "reports",
}

# ---------------------------------------------------------------- ROI
# ASSUMPTIONS to tune with real customers' numbers; they are not measured.
MINUTES_PER_RESOLUTION = 12  # support-agent minutes one agent resolution replaces
HOURLY_COST_USD = 45  # fully loaded cost of one support-agent hour

# ---------------------------------------------------------------- risk
# Each rule adds its weight to the score (capped at 100) and one claim with the
# records behind it. The weights rank; the brief's prose shows the claims only.
USAGE_DECLINE_STEEP_PCT, USAGE_DECLINE_STEEP_WEIGHT = -20.0, 35  # active users, 30d vs 30d
USAGE_DECLINE_PCT, USAGE_DECLINE_WEIGHT = -10.0, 15
OPEN_TICKET_WEIGHT, OPEN_TICKET_MAX = 5, 15  # per open ticket, at most
ANGRY_TICKET_WEIGHT = 25  # any open ticket the offline engine reads as angry
ANGRY_SENTIMENT = -0.4  # offline-engine sentiment at or below this is angry (so is `hot`)
NPS_LOW, NPS_LOW_WEIGHT = 6, 15  # average 0-10 score of the last 90 days at or below
NPS_DROP_POINTS, NPS_DROP_WEIGHT = 2.0, 10  # fall of that average against the 90 days before
PROMOTER_SCORE, DETRACTOR_SCORE = 9, 6  # NPS: 9-10 promote, 0-6 detract
HIGH_RISK_SCORE, MEDIUM_RISK_SCORE = 50, 25
EXCERPT_CHARS = 280

# ---------------------------------------------------------------- expansion
SEAT_PRESSURE_PCT = 85.0  # seat utilisation at or above: suggest seats
EXTRA_SEAT_SHARE = 0.2  # at least this share of the current seats ...
TARGET_UTILISATION_PCT = 70.0  # ... or enough to bring utilisation back to this
USAGE_GROWTH_PCT = 25.0  # API calls / agent resolutions growth, 30d vs 30d
NEXT_PLAN = {"starter": "team", "team": "business", "business": "enterprise"}

# ---------------------------------------------------------------- relationships
# The gaps the decision-maker map lists are the relationship rules of the risk
# section (one function computes both), each with its weight.
EXECUTIVE_ROLE = re.compile(r"\b(ceo|[se]?vp|head|director|chief)\b", re.IGNORECASE)
CHAMPION_ROLE = re.compile(r"champion", re.IGNORECASE)
INFLUENCE_RANK = {"high": 0, "medium": 1, "low": 2}
NO_CONTACTS_WEIGHT = 20
NO_SPONSOR_WEIGHT = 10  # no decision maker whose role names an executive
NO_CHAMPION_WEIGHT = 10  # nobody with "Champion" in their role
NEGATIVE_SENTIMENT, NEGATIVE_SENTIMENT_WEIGHT = -0.3, 15  # per decision maker or champion
CHAMPION_STALE_DAYS, CHAMPION_STALE_WEIGHT = 60, 10  # per champion not touched
DECISION_MAKER_STALE_DAYS, DECISION_MAKER_STALE_WEIGHT = 45, 5  # per decision maker
STALE_RELATIONSHIP_DAYS, STALE_RELATIONSHIP_WEIGHT = 30, 5  # nobody touched within

# ---------------------------------------------------------------- reads


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def daily_usage(s: Session, account_id: str, as_of: date) -> dict[str, dict[date, float]]:
    """Per feature, per day: the account's usage over the 13 weeks ending at as_of.

    One grouped query (feature, day); duplicate rows of a day add up.
    """
    first = as_of - timedelta(days=WEEKS * 7 - 1)
    rows = s.exec(
        select(col(UsageDaily.feature), col(UsageDaily.day), func.sum(UsageDaily.value))
        .where(
            UsageDaily.account_id == account_id, UsageDaily.day >= first, UsageDaily.day <= as_of
        )
        .group_by(col(UsageDaily.feature), col(UsageDaily.day))
    ).all()
    daily: dict[str, dict[date, float]] = defaultdict(dict)
    for feature, day, value in rows:
        daily[feature][day] = float(value or 0)
    return daily


def _period(series: dict[date, float], end: date, days: int, gauge: bool) -> float:
    """A feature over `days` calendar days ending at `end`: the average per day for a
    gauge (missing days count as 0), the sum otherwise. Unrounded."""
    total = sum(series.get(end - timedelta(days=i), 0.0) for i in range(days))
    return total / days if gauge else total


def _change_pct(last: float, previous: float) -> float | None:
    """round((last - previous) / previous * 100, 1); None when previous is 0."""
    if not previous:
        return None
    return round((last - previous) / previous * 100, 1)


def _figure(value: float, gauge: bool) -> float:
    return round(value, 2) if gauge else value


def _feature_trend(feature: str, series: dict[date, float], as_of: date) -> FeatureTrend:
    """last_30 / previous_30 / weekly: averages per day for gauges (rounded to 2
    decimals), sums otherwise; change_pct from the unrounded figures."""
    gauge = feature in GAUGE_FEATURES
    last = _period(series, as_of, MONTH_DAYS, gauge)
    previous = _period(series, as_of - timedelta(days=MONTH_DAYS), MONTH_DAYS, gauge)
    weekly = [
        _figure(_period(series, as_of - timedelta(days=7 * w), 7, gauge), gauge)
        for w in reversed(range(WEEKS))
    ]
    return FeatureTrend(
        feature=feature,
        last_30=_figure(last, gauge),
        previous_30=_figure(previous, gauge),
        change_pct=_change_pct(last, previous),
        weekly=weekly,
    )


def label(feature: str) -> str:
    return FEATURE_LABELS.get(feature, feature.replace("_", " "))


def _change_text(change: float | None) -> str:
    return (
        "nothing in the 30 days before"
        if change is None
        else f"{change:+.1f}% vs the 30 days before"
    )


def usage_report(
    facts: AccountFacts, as_of: date, daily: dict[str, dict[date, float]]
) -> UsageReport:
    """The usage section.

    - features: the five known features (plus any other in the data), see `_feature_trend`;
    - peak_active_users: the highest daily active users in the 90-day window;
    - avg_active_users_30d: active users summed over the last 30 days / 30 (2 decimals);
    - seat_utilisation_pct: round(avg_active_users_30d / seats * 100, 1), from the
      unrounded average; 0 when the account has no seats;
    - adoption: plain statements against the plan (integrations connected = the
      highest daily count of the last 7 days, so a weekend dip does not hide one).
    """
    window_start = as_of - timedelta(days=WINDOW_DAYS - 1)
    features = list(FEATURE_ORDER) + sorted(set(daily) - set(FEATURE_ORDER))
    trends = [_feature_trend(f, daily.get(f, {}), as_of) for f in features]
    users = daily.get("active_users", {})
    avg_users = _period(users, as_of, MONTH_DAYS, gauge=True)
    peak = max((v for d, v in users.items() if d >= window_start), default=0.0)
    seats = facts.seats
    utilisation = round(avg_users / seats * 100, 1) if seats > 0 else 0.0

    if seats > 0:
        adoption = [
            (
                f"seat utilisation {utilisation:g}% of {seats:,} seats on the {facts.plan} "
                f"plan ({avg_users:,.1f} active users/day over the last 30 days, "
                f"peak {peak:,.0f})"
            )
        ]
    else:
        adoption = [
            (
                f"no seat count on the {facts.plan} plan ({avg_users:,.1f} active "
                "users/day over the last 30 days)"
            )
        ]
    for trend in trends:
        if trend.feature == "active_users":
            continue
        series = daily.get(trend.feature, {})
        if trend.feature == "integrations":
            connected = max(series.get(as_of - timedelta(days=i), 0.0) for i in range(7))
            adoption.append(
                f"integrations: {connected:,.0f} connected"
                if connected
                else "integrations: none connected in the last 7 days"
            )
        elif trend.feature in GAUGE_FEATURES:
            adoption.append(
                f"{label(trend.feature)}: {trend.last_30:,.1f}/day in the last "
                f"30 days ({_change_text(trend.change_pct)})"
            )
        elif trend.last_30:
            adoption.append(
                f"{label(trend.feature)}: {trend.last_30:,.0f} in the last 30 days "
                f"({_change_text(trend.change_pct)})"
            )
        else:
            adoption.append(f"{label(trend.feature)}: none in the last 30 days")

    return UsageReport(
        window_start=window_start,
        window_end=as_of,
        features=trends,
        seats=seats,
        peak_active_users=peak,
        avg_active_users_30d=round(avg_users, 2),
        seat_utilisation_pct=utilisation,
        adoption=adoption,
    )


def _trend(usage: UsageReport, feature: str) -> FeatureTrend:
    return next(t for t in usage.features if t.feature == feature)


def roi_proof(
    s: Session, facts: AccountFacts, as_of: date, daily: dict[str, dict[date, float]]
) -> RoiProof:
    """The ROI section. Two different agents, named apart: the customer's own AI
    agent (a product feature: its resolutions are their usage) and csops's account
    agent (its actions on the account are in our audit log).

    - agent_resolutions_90d: the customer's AI-agent resolutions over the 90-day window;
    - hours_saved_90d: resolutions x MINUTES_PER_RESOLUTION / 60 (1 decimal);
    - value_usd_90d: unrounded hours x HOURLY_COST_USD (2 decimals);
    - price_paid_90d: ARR / 4 (2 decimals);
    - roi_multiple: round(value / price, 2) from the unrounded figures; None at price 0;
    - agent_actions_90d: audit events of the account with actor "agent" whose `at`
      falls in the window (as_of-89 00:00 UTC up to as_of+1 00:00 UTC).
    """
    window_start = as_of - timedelta(days=WINDOW_DAYS - 1)
    resolutions = _period(daily.get("agent_resolutions", {}), as_of, WINDOW_DAYS, gauge=False)
    hours = resolutions * MINUTES_PER_RESOLUTION / 60
    value = hours * HOURLY_COST_USD
    price = facts.arr / 4
    multiple = round(value / price, 2) if price else None
    actions = s.exec(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.account_id == facts.account_id,
            AuditEvent.actor == "agent",
            AuditEvent.at >= day_start(window_start),
            AuditEvent.at < day_start(as_of + timedelta(days=1)),
        )
    ).one()

    outcomes = [
        (
            f"{resolutions:,.0f} support conversations resolved by their AI agent in 90 days "
            f"({window_start} to {as_of}; the product's usage data)"
        ),
        f"≈ {hours:,.1f} hours of support work saved ({MINUTES_PER_RESOLUTION} minutes each)",
        f"≈ ${value:,.0f} of support time at ${HOURLY_COST_USD}/hour, against ${price:,.0f} "
        "paid for the quarter" + (f": {multiple:g}x return" if multiple is not None else ""),
        (
            f"{actions:,} actions by csops's account agent on this account (our audit log: "
            "our own work for them, not their product usage)"
        ),
    ]
    return RoiProof(
        agent_resolutions_90d=resolutions,
        hours_saved_90d=round(hours, 1),
        value_usd_90d=round(value, 2),
        price_paid_90d=round(price, 2),
        roi_multiple=multiple,
        agent_actions_90d=actions,
        outcomes=outcomes,
    )


def excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def _ticket_link(t: SupportTicket) -> EvidenceLink:
    return EvidenceLink(
        kind="ticket",
        ref=t.id,
        label=f"{t.id} “{t.subject}” ({t.status})",
        at=t.created_at.date(),
        excerpt=excerpt(t.body),
    )


def _contact_link(c: Contact) -> EvidenceLink:
    return EvidenceLink(
        kind="contact",
        ref=c.email,
        label=f"{c.name} ({c.role})",
        at=c.last_touch,
        excerpt=f"sentiment {c.sentiment:+.2f}, influence {c.influence}",
    )


def _said(
    kind: Literal["note", "call", "nps"], row_id: int | None, label: str, at: datetime, text: str
) -> EvidenceLink:
    return EvidenceLink(
        kind=kind, ref=str(row_id), label=label, at=at.date(), excerpt=excerpt(text)
    )


def conversations(s: Session, account_id: str, as_of: date) -> list[EvidenceLink]:
    """CRM notes and call transcripts of the 90-day window, newest first: the
    records a relationship claim points to when they name the person."""
    since = day_start(as_of - timedelta(days=WINDOW_DAYS - 1))
    until = day_start(as_of + timedelta(days=1))
    links = [
        _said("note", n.id, f"CRM note by {n.author}", n.at, n.text)
        for n in s.exec(
            select(CrmNote).where(
                CrmNote.account_id == account_id, CrmNote.at >= since, CrmNote.at < until
            )
        )
    ]
    links += [
        _said("call", c.id, c.title, c.at, c.text)
        for c in s.exec(
            select(CallTranscript).where(
                CallTranscript.account_id == account_id,
                CallTranscript.at >= since,
                CallTranscript.at < until,
            )
        )
    ]
    return sorted(links, key=lambda link: (link.at or as_of, link.kind, link.ref), reverse=True)


def relationship_gaps(
    contacts: list[Contact], as_of: date, talks: list[EvidenceLink] | None = None
) -> list[RiskFactor]:
    """The relationship gaps, in the map and in the risk section alike:

    no contacts (+20); no executive sponsor: no decision maker whose role names CEO,
    VP, Head, Director or Chief (+10); no champion (+10); each decision maker or
    champion with sentiment <= -0.3 (+15); each champion not touched in over 60
    days or never (+10); each decision maker not touched in over 45 days or never
    (+5); nobody touched in the last 30 days (+5). Sources: the contact, and the
    notes and calls of the last 90 days that name them (`talks`).
    """
    if not contacts:
        return [RiskFactor(text="no contacts on the account", weight=NO_CONTACTS_WEIGHT)]

    def sources(c: Contact) -> list[EvidenceLink]:
        said = [t for t in talks or [] if c.name in t.excerpt]
        return [_contact_link(c), *said]

    def days(c: Contact) -> int | None:
        return (as_of - c.last_touch).days if c.last_touch else None

    gaps: list[RiskFactor] = []
    deciders = [c for c in contacts if c.is_decision_maker]
    champions = [c for c in contacts if CHAMPION_ROLE.search(c.role)]
    if not any(EXECUTIVE_ROLE.search(c.role) for c in deciders):
        gaps.append(RiskFactor(text="no executive sponsor", weight=NO_SPONSOR_WEIGHT))
    if not champions:
        gaps.append(RiskFactor(text="no champion", weight=NO_CHAMPION_WEIGHT))
    for c in contacts:
        champion = c in champions
        who = f"champion {c.name}" if champion else f"decision maker {c.name} ({c.role})"
        if (c.is_decision_maker or champion) and c.sentiment <= NEGATIVE_SENTIMENT:
            gaps.append(
                RiskFactor(
                    text=f"{who} is negative: sentiment {c.sentiment:+.2f}",
                    weight=NEGATIVE_SENTIMENT_WEIGHT,
                    sources=sources(c),
                )
            )
        since = days(c)
        limit, weight = (
            (CHAMPION_STALE_DAYS, CHAMPION_STALE_WEIGHT)
            if champion
            else (DECISION_MAKER_STALE_DAYS, DECISION_MAKER_STALE_WEIGHT)
        )
        if (champion or c.is_decision_maker) and (since is None or since > limit):
            text = f"{who} never touched" if since is None else f"{who} not touched in {since} days"
            gaps.append(RiskFactor(text=text, weight=weight, sources=sources(c)))
    if not any(d is not None and d <= STALE_RELATIONSHIP_DAYS for d in map(days, contacts)):
        gaps.append(
            RiskFactor(
                text=f"no contact touched in the last {STALE_RELATIONSHIP_DAYS} days",
                weight=STALE_RELATIONSHIP_WEIGHT,
            )
        )
    return gaps


def nps_of(scores: list[int]) -> tuple[float | None, int, int]:
    """(NPS, promoters, detractors): % scoring 9-10 minus % scoring 0-6, 1 decimal."""
    promoters = sum(score >= PROMOTER_SCORE for score in scores)
    detractors = sum(score <= DETRACTOR_SCORE for score in scores)
    if not scores:
        return None, 0, 0
    return round((promoters - detractors) / len(scores) * 100, 1), promoters, detractors


def risk_assessment(
    s: Session,
    facts: AccountFacts,
    as_of: date,
    usage: UsageReport,
    contacts: list[Contact],
    angry_judge: AngerJudge,
    talks: list[EvidenceLink] | None = None,
) -> RiskAssessment:
    """The risk section: a score (sum of the weights of the rules that fire, capped
    at 100), its level (>= 50 high, >= 25 medium, else low) and one claim per rule
    that fired, with its numbers and the records behind it.

    Rules: active users (average per day) last 30 vs previous 30 days <= -20%: +35,
    <= -10%: +15; +5 per open ticket (new, open, awaiting a human or escalated), at
    most +15; +25 when any open ticket is angry; average 0-10 score of the last 90
    days' NPS responses <= 6: +15, and a fall of >= 2 points against the 90 days
    before: +10; the relationship gaps (`relationship_gaps`). The NPS itself (%
    promoters - % detractors of the last 90 days) is reported beside the averages.
    """
    factors: list[RiskFactor] = []
    users = _trend(usage, "active_users")
    change = users.change_pct
    if change is not None and change <= USAGE_DECLINE_PCT:
        factors.append(
            RiskFactor(
                text=(
                    f"active users down {-change:.1f}% (avg {users.last_30:,.1f}/day vs "
                    f"{users.previous_30:,.1f}/day, last 30 days vs the 30 before)"
                ),
                weight=(
                    USAGE_DECLINE_STEEP_WEIGHT
                    if change <= USAGE_DECLINE_STEEP_PCT
                    else USAGE_DECLINE_WEIGHT
                ),
                sources=[
                    EvidenceLink(
                        kind="usage", ref="active_users", label="active users vs seats (chart)"
                    )
                ],
            )
        )

    tickets = s.exec(
        select(SupportTicket)
        .where(
            SupportTicket.account_id == facts.account_id,
            col(SupportTicket.status).in_(OPEN_TICKET_STATUSES),
        )
        .order_by(col(SupportTicket.created_at), col(SupportTicket.id))
    ).all()
    if tickets:
        listed = ", ".join(f"{t.id} “{t.subject}”" for t in tickets)
        factors.append(
            RiskFactor(
                text=f"{len(tickets)} open ticket(s): {listed}",
                weight=min(OPEN_TICKET_MAX, OPEN_TICKET_WEIGHT * len(tickets)),
                sources=[_ticket_link(t) for t in tickets],
            )
        )
    angry = []
    for t in tickets:
        is_angry, sentiment = angry_judge(t, len(tickets))
        if is_angry:
            angry.append((t, sentiment))
    if angry:
        factors.append(
            RiskFactor(
                text=f"{len(angry)} angry open ticket(s): "
                + ", ".join(f"{t.id} “{t.subject}” (sentiment {v:+.2f})" for t, v in angry),
                weight=ANGRY_TICKET_WEIGHT,
                sources=[_ticket_link(t) for t, _ in angry],
            )
        )

    split = day_start(as_of - timedelta(days=WINDOW_DAYS - 1))
    responses = s.exec(
        select(NpsResponse)
        .where(
            NpsResponse.account_id == facts.account_id,
            NpsResponse.at >= day_start(as_of - timedelta(days=2 * WINDOW_DAYS - 1)),
            NpsResponse.at < day_start(as_of + timedelta(days=1)),
        )
        .order_by(col(NpsResponse.at), col(NpsResponse.id))
    ).all()
    recent = [r for r in responses if r.at >= split]
    previous = [r for r in responses if r.at < split]
    nps_recent = round(sum(r.score for r in recent) / len(recent), 1) if recent else None
    nps_previous = round(sum(r.score for r in previous) / len(previous), 1) if previous else None
    nps_score, promoters, detractors = nps_of([r.score for r in recent])
    said = [
        _said("nps", r.id, f"NPS response {r.score}/10 from {r.contact_email}", r.at, r.comment)
        for r in recent
    ]
    if nps_recent is not None and nps_recent <= NPS_LOW:
        factors.append(
            RiskFactor(
                text=(
                    f"average NPS-survey score {nps_recent:g}/10 from {len(recent)} "
                    f"response(s) in the last 90 days (NPS {nps_score:+g})"
                ),
                weight=NPS_LOW_WEIGHT,
                sources=said,
            )
        )
    if (
        nps_recent is not None
        and nps_previous is not None
        and nps_previous - nps_recent >= NPS_DROP_POINTS
    ):
        factors.append(
            RiskFactor(
                text=(
                    f"average NPS-survey score down {nps_previous - nps_recent:.1f} points "
                    f"({nps_recent:g} vs {nps_previous:g} in the 90 days before)"
                ),
                weight=NPS_DROP_WEIGHT,
                sources=said,
            )
        )

    gaps = relationship_gaps(contacts, as_of, talks)
    factors += gaps
    score = min(100, sum(f.weight for f in factors))
    level: RiskLevel = (
        "high" if score >= HIGH_RISK_SCORE else "medium" if score >= MEDIUM_RISK_SCORE else "low"
    )
    return RiskAssessment(
        level=level,
        score=score,
        evidence=[f.text for f in factors],
        usage_change_pct=change,
        open_tickets=len(tickets),
        angry_open_tickets=len(angry),
        nps_recent=nps_recent,
        nps_previous=nps_previous,
        champion_changes=[g.text for g in gaps],
        factors=factors,
        nps_score=nps_score,
        nps_responses=len(recent),
        nps_promoters=promoters,
        nps_detractors=detractors,
    )


def first_usage_day(daily: dict[str, dict[date, float]]) -> date | None:
    return min((day for series in daily.values() for day in series), default=None)


def expansion_recommendation(
    facts: AccountFacts, usage: UsageReport, risk: RiskAssessment, first_usage_day: date | None
) -> ExpansionRecommendation:
    """The expansion section.

    - seat utilisation >= 85%: extra seats = max(ceil(seats x 0.2), the seats that
      bring the 30-day average back to 70% utilisation);
    - API calls up >= 25% (last 30 vs previous 30 days): the next plan tier (an API
      volume add-on on the top plan); agent resolutions up >= 25%: the agent
      resolution add-on. Growth counts only when usage data covers the whole
      previous 30 days (first usage day <= as_of-59): before that it is the
      onboarding ramp-up, not demand for more; next_plan and add_ons name what
      pricing prices;
    - recommended only when a rule fires and the risk level is not high (then the
      evidence says what was held back and why).
    """
    evidence: list[str] = []
    suggestions: list[str] = []
    extra_seats, next_plan, add_ons = 0, None, []
    seats, util, avg = facts.seats, usage.seat_utilisation_pct, usage.avg_active_users_30d
    if seats > 0 and util >= SEAT_PRESSURE_PCT:
        to_target = math.ceil(avg / (TARGET_UTILISATION_PCT / 100)) - seats
        extra_seats = max(math.ceil(seats * EXTRA_SEAT_SHARE), to_target)
        evidence.append(
            f"seat utilisation {util:g}% of {seats:,} seats ({avg:,.1f} active "
            f"users/day over the last 30 days; threshold {SEAT_PRESSURE_PCT:g}%)"
        )
        suggestions.append(
            f"add {extra_seats:,} seats ({seats:,} → {seats + extra_seats:,}): "
            f"utilisation {avg / (seats + extra_seats) * 100:.1f}%"
        )
    previous_start = usage.window_end - timedelta(days=2 * MONTH_DAYS - 1)
    ramping = first_usage_day is None or first_usage_day > previous_start
    for feature in ("api_calls", "agent_resolutions"):
        t = _trend(usage, feature)
        if t.change_pct is None or t.change_pct < USAGE_GROWTH_PCT:
            continue
        if ramping:
            evidence.append(
                f"{label(feature)} up {t.change_pct:.1f}%, not counted: usage "
                f"starts {first_usage_day}, inside the previous 30 days (ramp-up)"
            )
            continue
        evidence.append(
            f"{label(feature)} up {t.change_pct:.1f}% ({t.last_30:,.0f} in the "
            f"last 30 days vs {t.previous_30:,.0f} in the 30 before)"
        )
        if feature == "api_calls" and facts.plan in NEXT_PLAN:
            next_plan = NEXT_PLAN[facts.plan]
            suggestions.append(f"next plan tier: {facts.plan} → {next_plan}")
        elif feature == "api_calls":
            add_ons.append("api_volume")
            suggestions.append(f"API volume add-on (already on the {facts.plan} plan)")
        else:
            add_ons.append("agent_resolutions")
            suggestions.append("agent resolution add-on")

    if not suggestions:
        api, res = _trend(usage, "api_calls"), _trend(usage, "agent_resolutions")
        evidence.append(
            f"no expansion signal: seat utilisation {util:g}% (needs {SEAT_PRESSURE_PCT:g}%), "
            f"API calls {pct(api.change_pct)}, agent resolutions {pct(res.change_pct)} "
            f"(need +{USAGE_GROWTH_PCT:g}% against a full previous 30 days)"
        )
        return ExpansionRecommendation(
            recommended=False, suggestions=[], suggested_seats=0, evidence=evidence
        )
    if risk.level == "high":
        evidence.append(
            "held back: renewal risk is high; protect "
            f"the renewal first (would suggest: {'; '.join(suggestions)})"
        )
        return ExpansionRecommendation(
            recommended=False, suggestions=[], suggested_seats=0, evidence=evidence
        )
    return ExpansionRecommendation(
        recommended=True,
        suggestions=suggestions,
        suggested_seats=extra_seats,
        evidence=evidence,
        next_plan=next_plan,
        add_ons=add_ons,
    )


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def contacts_of(s: Session, account_id: str) -> list[Contact]:
    return list(
        s.exec(
            select(Contact).where(Contact.account_id == account_id).order_by(col(Contact.id))
        ).all()
    )


def decision_maker_map(
    contacts: list[Contact], as_of: date, talks: list[EvidenceLink] | None = None
) -> DecisionMakerMap:
    """The decision-maker map: every contact, decision makers first, then by
    influence (high, medium, low), then by name; days_since_touch = as_of - last_touch.
    missing: the relationship gaps of the risk section (`relationship_gaps`).
    """
    people = [
        DecisionMaker(
            **c.model_dump(exclude={"id", "account_id", "is_primary"}),
            days_since_touch=(as_of - c.last_touch).days if c.last_touch else None,
        )
        for c in contacts
    ]
    people.sort(
        key=lambda p: (
            not p.is_decision_maker,
            INFLUENCE_RANK.get(p.influence, 3),
            p.name.lower(),
            p.email,
        )
    )
    return DecisionMakerMap(
        contacts=people, missing=[g.text for g in relationship_gaps(contacts, as_of, talks)]
    )


def commercial_history(s: Session, account_id: str) -> list[CommercialTerm]:
    """The account's signed terms, oldest first (one indexed query)."""
    rows = s.exec(
        select(ContractTerm)
        .where(ContractTerm.account_id == account_id)
        .order_by(col(ContractTerm.start_date), col(ContractTerm.id))
    )
    return [CommercialTerm(**r.model_dump(exclude={"id", "account_id"})) for r in rows]


# What a customer asking for terms outside the standard contract sounds like.
TERMS_REQUEST = re.compile(
    r"non[- ]standard terms|custom terms|redline|change (to|in) the (msa|contract)"
    r"|liability cap|unlimited liability|indemnif|most favou?red",
    re.IGNORECASE,
)


def terms_requests(s: Session, account_id: str, as_of: date) -> list[str]:
    """Where, in the last 90 days, the customer asked for non-standard terms."""
    since = day_start(as_of - timedelta(days=89))
    found = []
    for kind, model, stamp, text_of in (
        ("CRM note", CrmNote, "at", lambda r: r.text),
        ("call", CallTranscript, "at", lambda r: r.text),
        ("ticket", SupportTicket, "created_at", lambda r: f"{r.subject} {r.body}"),
    ):
        column = getattr(model, stamp)
        for row in s.exec(select(model).where(model.account_id == account_id, column >= since)):
            match = TERMS_REQUEST.search(text_of(row))
            if match:
                found.append(f'{kind} {getattr(row, stamp):%Y-%m-%d}: "{match.group(0)}"')
    return found
