"""The outcome report's figures: what the agents and the people delivered in a window
[since, until), read from the audit log and the context layer alone.

One query per table (audit rows of the window, the accounts, the tickets the window's
escalations resolved, onboarding reviews, renewal packages), then sums in Python:
every figure names the rows it counts, so a reader can count them again with SQL.

Definitions (the README's "The outcome report" repeats them):
- a ticket is resolved when its status is `answered` or `solved` and its escalation
  (`escalation/<ticket id>`) wrote a resolving audit row in the window: the agent's
  own reply (`…/reply/sent`) → by the agent alone; an approved or edited reply → by
  agent + human; a human's task done (status `solved`) → by humans;
- an onboarding reaches activation when its day-30 review says `activated`;
- a renewal package is ready before its call when it was stored before the renewal
  date (the call is held before the date);
- a risk is caught before renewal when the account watch alerted the CSM
  (`usage_anomaly_alert` sent) or opened an internal ticket (`internal_ticket`
  opened) while the account's renewal date was still ahead: one per account and
  night, however many of those it did that night;
- an agent action is a policy decision acted on (`sent` by the agent) or handed to a
  human (`requested`, reviews excluded: a review grades an action already counted);
- an LLM call is an audit row with a model (one per attempt, failed ones included).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session

from context.tables import (
    Account,
    AuditEvent,
    OnboardingReviewRecord,
    RenewalPackageRecord,
    SupportTicket,
    table,
)

AUDIT, ACCOUNTS, TICKETS = table(AuditEvent), table(Account), table(SupportTicket)
REVIEWS, PACKAGES = table(OnboardingReviewRecord), table(RenewalPackageRecord)

ESCALATION_PREFIX = "escalation/"
RESOLVED_STATUSES = ("answered", "solved")
# How a human request ends (workflows/human.py `follow_request`); `review` requests
# end good | bad | expired.
HUMAN_CLOSES = ("approved", "edited", "rejected", "acked", "done", "good", "bad")
QUIET_CLOSES = ("expired", "withdrawn")
RISK_ROWS = {("usage_anomaly_alert", "sent"), ("internal_ticket", "opened")}
# The load a CSM carries (the seeds: 25-40 accounts each).
CSM_ACCOUNTS = (25, 40)
UNLISTED = "unlisted"  # an action the autonomy policy does not name (e.g. csm_task)


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; csops stores them in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (the smallest value with `share` of them at or
    below it); None for no values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else None


class Timing(BaseModel):
    """Seconds from a request's opening to its closing."""

    n: int = 0
    median_s: float | None = None
    p90_s: float | None = None

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        if not seconds:
            return cls()
        return cls(
            n=len(seconds),
            median_s=round(statistics.median(seconds), 3),
            p90_s=round(percentile(seconds, 0.9) or 0, 3),
        )


class Units(BaseModel):
    """Units of work delivered: what outcome-based pricing bills on."""

    tickets_agent_alone: int = 0
    tickets_agent_and_human: int = 0
    tickets_by_humans: int = 0
    onboardings_activated: int = 0
    renewal_packages_before_call: int = 0
    risks_caught_before_renewal: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, unit) for unit in Units.model_fields)

    def add(self, field: str) -> None:
        setattr(self, field, getattr(self, field) + 1)


class AccountUnits(Units):
    account_id: str
    name: str
    segment: str


class ActionCount(BaseModel):
    action: str
    work_type: str
    level: str
    n: int


class RequestKindFigures(BaseModel):
    kind: str  # approval | task | ack | review
    opened: int = 0  # in the window
    carried_in: int = 0  # opened before the window, still open when it began
    outcomes: dict[str, int] = {}  # how they closed in the window: approved, ..., expired
    still_open: int = 0
    turnaround: Timing = Timing()  # opening to a human's decision


class ModelUse(BaseModel):
    model: str
    engine: str
    calls: int
    tokens: int
    usd_per_million_tokens: float | None  # None: the price list does not name it
    cost_usd: float | None


class LlmFigures(BaseModel):
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0  # of the priced models
    offline_calls: int = 0
    offline_share: float | None = None  # of all calls
    by_model: list[ModelUse] = []
    by_action: dict[str, int] = {}  # calls per audited question
    unpriced_models: list[str] = []
    units: int = 0  # units of work delivered in the window
    cost_per_unit_usd: float | None = None
    tokens_per_unit: float | None = None


class CsmWeek(BaseModel):
    week: str  # ISO week, e.g. 2026-W47
    opened: int  # requests asked of the CSM's accounts that week
    open_at_end: int  # requests of theirs still open when the week (or window) ended


class CsmLoad(BaseModel):
    csm: str
    accounts: int
    carries: str  # under | within | over the 25-40 accounts a CSM carries
    open_now: int  # still open at the window's end
    weeks: list[CsmWeek]


class PolicyVersion(BaseModel):
    version: str
    rows: int
    first_at: datetime
    last_at: datetime


class OutcomeFigures(BaseModel):
    since: datetime
    until: datetime
    policy_versions: list[PolicyVersion]
    engines: dict[str, int]  # LLM calls per engine label
    units: Units
    units_by_segment: dict[str, Units]
    units_by_account: list[AccountUnits]
    onboarding_reviews: int
    renewal_packages: int
    actions_by_level: dict[str, int]
    actions_by_work_type: dict[str, int]
    actions: list[ActionCount]
    requests: list[RequestKindFigures]
    decisions: int  # human decisions in the window
    turnaround: Timing  # of every human decision
    hot_ack: Timing  # hot escalations: opening of the ack to the ack
    hot_unacknowledged: int  # hot escalations whose ack expired
    expiries: dict[str, int]  # per request kind
    llm: LlmFigures
    csm_accounts: tuple[int, int] = CSM_ACCOUNTS
    csm_load: list[CsmLoad]


def _request_key(idempotency_key: str) -> str:
    """The request an opening or closing row belongs to: `<workflow>/<request id>`."""
    return idempotency_key.rsplit("/", 1)[0]


def _iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks(since: datetime, until: datetime) -> list[tuple[str, datetime]]:
    """(ISO week, its end clipped to the window) of every week the window touches."""
    start = since - timedelta(days=since.weekday())
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    weeks = []
    while start < until:
        end = min(start + timedelta(days=7), until)
        weeks.append((_iso_week(max(start, since)), end))
        start += timedelta(days=7)
    return weeks


def outcome_figures(
    s: Session,
    since: datetime,
    until: datetime,
    work_types: Mapping[str, str],
    prices: Mapping[str, float],
    offline_engine: str,
) -> OutcomeFigures:
    """Every figure of the outcome report for [since, until).

    Args:
        work_types: action kind -> work type, from the autonomy policy.
        prices: model -> USD per million tokens; a model not named is unpriced.
        offline_engine: the offline engine's label on its audit rows.
    """
    since, until = _utc(since), _utc(until)
    conn = s.connection()
    rows = conn.execute(
        select(
            AUDIT.c.idempotency_key,
            AUDIT.c.at,
            AUDIT.c.workflow_id,
            AUDIT.c.account_id,
            AUDIT.c.actor,
            AUDIT.c.action,
            AUDIT.c.outcome,
            AUDIT.c.autonomy,
            AUDIT.c.policy_version,
            AUDIT.c.engine,
            AUDIT.c.model,
            AUDIT.c.tokens,
            AUDIT.c.detail,
        )  # fmt: skip
        .where(AUDIT.c.at >= since, AUDIT.c.at < until)
        .order_by(AUDIT.c.at, AUDIT.c.id)
    ).all()
    accounts = {
        a.id: a
        for a in conn.execute(
            select(
                ACCOUNTS.c.id,
                ACCOUNTS.c.name,
                ACCOUNTS.c.segment,
                ACCOUNTS.c.owner_csm,
                ACCOUNTS.c.renewal_date,
            )  # fmt: skip
        )
    }
    units = _Tally(accounts)

    # ---- tickets: resolved by whom, from the escalations' rows and the tickets' status
    sent, approved, done = set(), set(), set()  # ticket ids, by their escalation's rows
    ticket_accounts: dict[str, str] = {}
    for r in rows:
        if not r.workflow_id.startswith(ESCALATION_PREFIX):
            continue
        ticket_id = r.workflow_id.removeprefix(ESCALATION_PREFIX)
        ticket_accounts[ticket_id] = r.account_id
        if r.idempotency_key.endswith("/reply/sent") and r.actor == "agent":
            sent.add(ticket_id)
        elif r.outcome in ("approved", "edited"):  # an escalation approves only its reply
            approved.add(ticket_id)
        elif r.outcome == "done":
            done.add(ticket_id)
    statuses = dict(
        conn.execute(
            select(TICKETS.c.id, TICKETS.c.status).where(
                TICKETS.c.id.in_(sorted(sent | approved | done))
            )
        ).all()
    )
    for ticket_id, status in statuses.items():
        # Only a person's task solves a ticket; a task done beside an answered ticket
        # (a strategic ask) leaves it the reply's.
        if status == "solved" and ticket_id in done:
            unit = "tickets_by_humans"
        elif status == "answered" and ticket_id in approved:
            unit = "tickets_agent_and_human"
        elif status == "answered" and ticket_id in sent:
            unit = "tickets_agent_alone"
        else:
            continue
        units.add(ticket_accounts[ticket_id], unit)

    # ---- onboardings and renewal packages, from their records
    reviews = conn.execute(
        select(REVIEWS.c.account_id, REVIEWS.c.activation_level).where(
            REVIEWS.c.at >= since, REVIEWS.c.at < until
        )
    ).all()
    for account_id, level in reviews:
        if level == "activated":
            units.add(account_id, "onboardings_activated")
    packages = conn.execute(
        select(PACKAGES.c.account_id, PACKAGES.c.created_at, PACKAGES.c.renewal_date).where(
            PACKAGES.c.created_at >= since, PACKAGES.c.created_at < until
        )
    ).all()
    for account_id, created_at, renewal_date in packages:
        if _utc(created_at).date() < renewal_date:
            units.add(account_id, "renewal_packages_before_call")
    caught = {
        (r.account_id, (r.detail or {}).get("as_of"))
        for r in rows
        if (r.action, r.outcome) in RISK_ROWS
        and (account := accounts.get(r.account_id))
        and _utc(r.at).date() < account.renewal_date
    }
    for account_id, _night in caught:  # a night's alert and ticket are one risk caught
        units.add(account_id, "risks_caught_before_renewal")

    # ---- agent actions, human requests and decisions
    actions: Counter[tuple[str, str]] = Counter()
    opened: dict[str, tuple[str, datetime, str]] = {}  # request -> (kind, at, account)
    closed: dict[str, tuple[str, datetime, str]] = {}  # request -> (outcome, at, actor)
    for r in rows:
        detail = r.detail or {}
        if r.outcome == "requested":
            opened[_request_key(r.idempotency_key)] = (
                str(detail.get("kind", "approval")), _utc(r.at), r.account_id,
            )  # fmt: skip
        elif r.outcome in (*HUMAN_CLOSES, *QUIET_CLOSES):
            closed[_request_key(r.idempotency_key)] = (r.outcome, _utc(r.at), r.actor)
        if r.autonomy and detail.get("kind") != "review":
            if r.outcome == "requested" or (r.outcome == "sent" and r.actor == "agent"):
                actions[(r.action, r.autonomy)] += 1
    action_rows = [
        ActionCount(action=a, work_type=work_types.get(a, UNLISTED), level=level, n=n)
        for (a, level), n in sorted(actions.items())
    ]
    by_level: Counter[str] = Counter()
    by_work_type: Counter[str] = Counter()
    for a in action_rows:
        by_level[a.level] += a.n
        by_work_type[a.work_type] += a.n

    # Requests still open when the window began are decided, expire or wait in it too.
    requests = {**_open_at(conn, since), **opened}
    kinds: dict[str, RequestKindFigures] = {}
    waits: defaultdict[str, list[float]] = defaultdict(list)
    for key, (kind, at, _) in requests.items():
        figures = kinds.setdefault(kind, RequestKindFigures(kind=kind))
        if key in opened:
            figures.opened += 1
        else:
            figures.carried_in += 1
        end = closed.get(key)
        if end is None:
            figures.still_open += 1
            continue
        outcome, closed_at, _ = end
        figures.outcomes[outcome] = figures.outcomes.get(outcome, 0) + 1
        if outcome in HUMAN_CLOSES:
            waits[kind].append((closed_at - at).total_seconds())
    for kind, figures in kinds.items():
        figures.turnaround = Timing.of(waits[kind])
    every_wait = [w for ws in waits.values() for w in ws]
    ack = kinds.get("ack", RequestKindFigures(kind="ack"))

    return OutcomeFigures(
        since=since,
        until=until,
        policy_versions=_policy_versions(rows),
        engines=dict(Counter(r.engine or "unknown" for r in rows if r.model)),
        units=units.total,
        units_by_segment=dict(sorted(units.by_segment.items())),
        units_by_account=sorted(units.by_account.values(), key=lambda u: (-u.total, u.account_id)),
        onboarding_reviews=len(reviews),
        renewal_packages=len(packages),
        actions_by_level=dict(sorted(by_level.items())),
        actions_by_work_type=dict(sorted(by_work_type.items())),
        actions=action_rows,
        requests=sorted(kinds.values(), key=lambda k: k.kind),
        decisions=len(every_wait),
        turnaround=Timing.of(every_wait),
        hot_ack=Timing.of(waits["ack"]),
        hot_unacknowledged=ack.outcomes.get("expired", 0),
        expiries={k.kind: k.outcomes["expired"] for k in kinds.values() if "expired" in k.outcomes},
        llm=_llm(rows, prices, offline_engine, units.total.total),
        csm_load=_csm_load(accounts, requests, closed, since, until),
    )


class _Tally:
    """Units of work summed for the book, per segment and per account."""

    def __init__(self, accounts: dict) -> None:
        self.accounts = accounts
        self.total = Units()
        self.by_segment: dict[str, Units] = {}
        self.by_account: dict[str, AccountUnits] = {}

    def add(self, account_id: str, field: str) -> None:
        a = self.accounts.get(account_id)
        segment = a.segment if a else "unknown"
        self.total.add(field)
        self.by_segment.setdefault(segment, Units()).add(field)
        row = self.by_account.get(account_id)
        if row is None:
            row = self.by_account[account_id] = AccountUnits(
                account_id=account_id, name=a.name if a else account_id, segment=segment
            )
        row.add(field)


def _open_at(conn, since: datetime) -> dict[str, tuple[str, datetime, str]]:
    """Requests opened before `since` and not closed before it: request -> (kind,
    opened at, account). Reads only opening and closing rows."""
    requested: dict[str, tuple[str, datetime, str]] = {}
    ended: set[str] = set()
    for r in conn.execute(
        select(
            AUDIT.c.idempotency_key,
            AUDIT.c.at,
            AUDIT.c.account_id,
            AUDIT.c.outcome,
            AUDIT.c.detail,
        ).where(  # fmt: skip
            AUDIT.c.at < since,
            AUDIT.c.outcome.in_(("requested", *HUMAN_CLOSES, *QUIET_CLOSES)),
        )
    ):
        key = _request_key(r.idempotency_key)
        if r.outcome == "requested":
            kind = str((r.detail or {}).get("kind", "approval"))
            requested[key] = (kind, _utc(r.at), r.account_id)
        else:
            ended.add(key)
    return {key: spec for key, spec in requested.items() if key not in ended}


def _policy_versions(rows) -> list[PolicyVersion]:
    seen: dict[str, PolicyVersion] = {}
    for r in rows:
        if not r.policy_version:
            continue
        at = _utc(r.at)
        v = seen.get(r.policy_version)
        if v is None:
            seen[r.policy_version] = PolicyVersion(
                version=r.policy_version, rows=1, first_at=at, last_at=at
            )
        else:
            v.rows, v.last_at = v.rows + 1, at
    return sorted(seen.values(), key=lambda v: v.first_at)


def _llm(rows, prices: Mapping[str, float], offline_engine: str, units: int) -> LlmFigures:
    used: dict[tuple[str, str], list[int]] = {}
    by_action: Counter[str] = Counter()
    for r in rows:
        if not r.model:
            continue
        calls_tokens = used.setdefault((r.model, r.engine or "unknown"), [0, 0])
        calls_tokens[0] += 1
        calls_tokens[1] += r.tokens or 0
        by_action[r.action] += 1
    models = []
    for (model, engine), (calls, tokens) in sorted(used.items()):
        price = prices.get(model)
        cost = None if price is None else round(tokens * price / 1_000_000, 6)
        models.append(ModelUse(
            model=model, engine=engine, calls=calls, tokens=tokens,
            usd_per_million_tokens=price, cost_usd=cost,
        ))  # fmt: skip
    calls = sum(m.calls for m in models)
    tokens = sum(m.tokens for m in models)
    cost = round(sum(m.cost_usd or 0 for m in models), 6)
    offline = sum(m.calls for m in models if m.engine == offline_engine)
    return LlmFigures(
        calls=calls,
        tokens=tokens,
        cost_usd=cost,
        offline_calls=offline,
        offline_share=round(offline / calls, 4) if calls else None,
        by_model=models,
        by_action=dict(sorted(by_action.items())),
        unpriced_models=sorted({m.model for m in models if m.usd_per_million_tokens is None}),
        units=units,
        cost_per_unit_usd=round(cost / units, 6) if units else None,
        tokens_per_unit=round(tokens / units, 2) if units else None,
    )


def _csm_load(
    accounts: dict,
    requests: dict[str, tuple[str, datetime, str]],
    closed: dict[str, tuple[str, datetime, str]],
    since: datetime,
    until: datetime,
) -> list[CsmLoad]:
    """Per CSM (the owner of the request's account): requests opened per ISO week and
    still open at each week's end (those carried into the window too), against the
    accounts they carry."""
    carried = Counter(a.owner_csm for a in accounts.values())
    low, high = CSM_ACCOUNTS
    theirs: defaultdict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for key, (_, at, account_id) in requests.items():
        a = accounts.get(account_id)
        if a is not None:
            closing = closed.get(key)
            theirs[a.owner_csm].append((at, closing[1] if closing else None))
    loads = []
    for csm in sorted(set(carried) | set(theirs)):
        spans = theirs.get(csm, [])
        weeks = []
        for week, end in _weeks(since, until):
            weeks.append(CsmWeek(
                week=week,
                opened=sum(at >= since and _iso_week(at) == week for at, _ in spans),
                open_at_end=sum(at < end and (c is None or c >= end) for at, c in spans),
            ))  # fmt: skip
        n = carried.get(csm, 0)
        loads.append(CsmLoad(
            csm=csm,
            accounts=n,
            carries="under" if n < low else "over" if n > high else "within",
            open_now=sum(c is None for _, c in spans),
            weeks=weeks,
        ))  # fmt: skip
    return loads


def default_since(until: datetime, days: int = 30) -> datetime:
    """The report's default window: the last `days` days to `until`."""
    return _utc(until) - timedelta(days=days)
