"""A reproducible, realistic demo book of customers for the context database.

`generate_book` fills the context tables (accounts, contacts, daily usage, support
tickets, CRM notes, call transcripts, NPS responses, signed contract terms) with a
book that looks like a real customer-success portfolio: a long tail of small
accounts and a few large ones, renewals spread over the coming year, a quarter of
the book sliding, a tenth outgrowing its plan (more active users than licensed
seats, fast-growing volume), angry tickets where usage is dropping, one steady
account whose usage fell off a cliff this week with a fresh detractor NPS response
(what the Risk agent exists to catch), and a handful of tickets in Spanish, German
and French.

Everything is drawn from `random.Random` instances derived from the seed, and the
only clock read is the `as_of` default, so the same (accounts, seed, as_of, days)
always produces identical rows. Each account draws from its own streams (one per
table), so a change to `days` changes only the usage rows.

The outbox and the audit log are never touched: they record what happened, and a
new demo book must not erase that history.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel, col

from context.tables import (
    Account,
    CallTranscript,
    Contact,
    ContractTerm,
    CrmNote,
    HealthScore,
    InternalTicket,
    NpsResponse,
    SupportTicket,
    UsageDaily,
    table,
)
from csops.demo_words import (
    CALLS,
    DECISION_ROLES,
    DROPPING_NPS_COMMENT,
    NAME_CORES,
    NAME_PREFIXES,
    NAME_QUALIFIERS,
    NAME_SUFFIXES,
    NOTES,
    NPS_COMMENTS,
    PEOPLE,
    RENEWAL_NOTE,
    ROLE_POOLS,
    SPONSOR_ROLES,
    TICKET_MIX,
    TICKETS,
    WEEKEND,
)
from policies.pricing import LIST_PRICE_PER_SEAT

# (csm_email, manager_email). Accounts are dealt round-robin in ARR order, so each
# CSM gets a similar mix of large and small accounts.
CSM_TEAM: list[tuple[str, str]] = [
    ("jane@acme.test", "maria@acme.test"),
    ("omar@acme.test", "maria@acme.test"),
    ("lena@acme.test", "maria@acme.test"),
    ("raj@acme.test", "david@acme.test"),
    ("sofia@acme.test", "david@acme.test"),
]

FEATURES = ["active_users", "agent_resolutions", "api_calls", "integrations", "reports"]

SEGMENTS = ("smb", "mid_market", "enterprise")

# Children first, so the reset also works with foreign keys enforced.
CONTEXT_TABLES = (
    InternalTicket,
    HealthScore,
    UsageDaily,
    SupportTicket,
    CrmNote,
    CallTranscript,
    NpsResponse,
    ContractTerm,
    Contact,
    Account,
)

_CHUNK = 50_000  # rows per executemany: bounded memory, few round trips
_USAGE_COLUMNS = ("account_id", "day", "feature", "value")
_TICKET_WINDOW_DAYS = 90
# Percent off the list price as signed; drawn per term.
DISCOUNTS = (0.0, 0.0, 5.0, 10.0, 10.0, 15.0, 20.0)
# What the CSM wrote down when an outgrowing account asked for more.
OUTGROWING_NOTE = (
    "{champion} says {n} more people want in: they share logins today. Asked what the "
    "next plan costs before the renewal on {renewal}."
)


class BookExistsError(Exception):
    """The context database already holds a book and no reset was asked for."""


class BookSummary(BaseModel):
    """What `generate_book` wrote."""

    accounts: int
    by_segment: dict[str, int]
    usage_rows: int
    tickets: int
    contacts: int
    nps: int
    notes: int
    calls: int
    contracts: int = 0
    as_of: date
    seed: int


# ---------------------------------------------------------------- the plan of the book


@dataclass
class _Person:
    name: str
    email: str
    role: str
    is_decision_maker: bool
    is_primary: bool = False


@dataclass
class _AccountPlan:
    id: str
    name: str
    domain: str
    segment: str
    arr: float
    plan: str
    seats: int
    signed_date: date
    renewal_date: date
    trajectory: str  # healthy | outgrowing | flat | dropping | declining | ramping
    language: str
    seed: int
    stage: str = ""
    top_rank: int = 0
    owner_csm: str = ""
    manager: str = ""
    people: list[_Person] = field(default_factory=list)

    @property
    def mood(self) -> str:
        """The trajectory whose words, moods and scores the account draws: an
        outgrowing account is a healthy one that needs more than it bought; a
        dropping one was flat until this week, and nothing it said has caught up yet."""
        return {"outgrowing": "healthy", "dropping": "flat"}.get(self.trajectory, self.trajectory)


def generate_book(
    engine: Engine,
    accounts: int = 60,
    seed: int = 7,
    as_of: date | None = None,
    days: int = 90,
    reset: bool = False,
) -> BookSummary:
    """Generate a demo book of customers into the context tables.

    Args:
        engine: Engine of the context database (tables already created).
        accounts: Number of accounts in the book.
        seed: Seed of every random draw; same inputs give identical rows.
        as_of: The book's "today": last day of usage, reference for stages and
            renewals. Defaults to `date.today()`.
        days: Days of daily usage per account, ending on `as_of` inclusive.
        reset: Delete the existing context rows first (outbox and audit stay).

    Returns:
        Counts of what was written.

    Raises:
        BookExistsError: The database already holds accounts and `reset` is False.
        ValueError: `accounts` or `days` is below 1.
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    as_of = as_of or date.today()
    plans = _plan_book(accounts, seed, as_of)
    counts = dict.fromkeys(
        ("contacts", "usage", "tickets", "notes", "calls", "nps", "contracts"), 0
    )

    # One transaction: a failed run leaves the previous book (or nothing) behind.
    with engine.begin() as conn:
        existing = conn.execute(select(func.count()).select_from(Account)).scalar_one()
        if existing and not reset:
            raise BookExistsError(
                f"the context database already holds {existing} accounts; "
                "pass reset=True (csops seed --reset) to replace them"
            )
        if reset:
            for model in CONTEXT_TABLES:
                conn.execute(delete(model))

        # Rows are generated as they are inserted, a chunk at a time, so memory stays
        # flat as the book grows (only the plans and the tickets, numbered across the
        # book, are held whole).
        _insert(conn, Account, (_account_row(p) for p in plans))
        counts["contacts"] = _insert(conn, Contact, _each(plans, _contact_rows, as_of))
        counts["usage"] = _insert_usage(conn, plans, as_of, days)
        counts["tickets"] = _insert(conn, SupportTicket, _ticket_rows(plans, as_of))
        counts["notes"] = _insert(conn, CrmNote, _each(plans, _note_rows, as_of))
        counts["calls"] = _insert(conn, CallTranscript, _each(plans, _call_rows, as_of))
        counts["nps"] = _insert(conn, NpsResponse, _each(plans, _nps_rows, as_of))
        counts["contracts"] = _insert(conn, ContractTerm, _each(plans, _contract_rows, as_of))

    return BookSummary(
        accounts=len(plans),
        by_segment={s: sum(p.segment == s for p in plans) for s in SEGMENTS},
        usage_rows=counts["usage"],
        tickets=counts["tickets"],
        contacts=counts["contacts"],
        nps=counts["nps"],
        notes=counts["notes"],
        calls=counts["calls"],
        contracts=counts["contracts"],
        as_of=as_of,
        seed=seed,
    )


def book_exists(engine: Engine) -> bool:
    """Whether the context database already holds at least one account."""
    with engine.connect() as conn:
        return conn.execute(select(col(Account.id)).limit(1)).first() is not None


# ---------------------------------------------------------------- book-level draws


def _quota(rng: random.Random, n: int, shares: Sequence[tuple[str, float, int]]) -> list[str]:
    """Exactly-proportioned labels in random order.

    Stratified rather than independent draws, so a 60-account book has the same
    mix as a 10,000-account one and small books don't come out lopsided.

    Args:
        rng: The book's generator.
        n: Number of labels.
        shares: (label, share, minimum count); the first label takes the remainder.

    Returns:
        n labels, shuffled.
    """
    labels: list[str] = []
    for label, share, minimum in shares[1:]:
        labels += [label] * min(n - len(labels), max(minimum, round(share * n)))
    labels += [shares[0][0]] * (n - len(labels))
    rng.shuffle(labels)
    return labels


def _plan_book(n: int, seed: int, as_of: date) -> list[_AccountPlan]:
    """Draw every account-level attribute, in a fixed order from one generator."""
    rng = random.Random(seed)
    big = n >= 5
    segments = _quota(
        rng, n, [("smb", 0.62, 0), ("mid_market", 0.27, 0), ("enterprise", 0.11, 1 if big else 0)]
    )
    cohorts = _quota(
        rng,
        n,
        [
            ("established", 0, 0),
            ("new", 0.05, 1 if big else 0),
            ("onboarding", 0.06, 1 if n >= 10 else 0),
        ],
    )
    languages = _quota(
        rng,
        n,
        [
            ("en", 0, 0),
            ("es", 0.03, 1 if n >= 20 else 0),
            ("de", 0.03, 1 if n >= 20 else 0),
            ("fr", 0.02, 1 if n >= 20 else 0),
        ],
    )
    established = cohorts.count("established")
    trajectories = _quota(
        rng,
        established,
        [
            ("healthy", 0.55, 0),
            ("declining", 0.25, 1 if established >= 3 else 0),
            ("flat", 0.10, 0),
            ("outgrowing", 0.10, 1 if established >= 4 else 0),
        ],
    )
    # Stratified renewal offsets: renewals cover the next 12 months evenly.
    offsets = [int((k + rng.random()) * 365 / max(established, 1)) for k in range(established)]
    rng.shuffle(offsets)
    if "outgrowing" in trajectories:
        # One outgrowing account renews soonest (offsets and trajectories pair by
        # index), so the first packages a demo makes include an expansion case.
        i, soonest = trajectories.index("outgrowing"), offsets.index(min(offsets))
        offsets[i], offsets[soonest] = offsets[soonest], offsets[i]
    if "flat" in trajectories:
        # One steady account breaks this week (a failed integration, a lost team): a
        # sudden drop and a fresh detractor, not the slow slide the declining show.
        trajectories[trajectories.index("flat")] = "dropping"
    names = _company_names(rng, n)

    plans: list[_AccountPlan] = []
    for i in range(n):
        segment, cohort = segments[i], cohorts[i]
        if cohort == "new":
            signed = as_of - timedelta(days=rng.randint(0, 9))
        elif cohort == "onboarding":
            signed = as_of - timedelta(days=rng.randint(10, 30))
        else:
            renewal = as_of + timedelta(days=offsets.pop())
            signed = _add_years(renewal, -rng.choice((1, 2)))
            if (as_of - signed).days <= 30:
                signed = _add_years(renewal, -2)
        trajectory = trajectories.pop() if cohort == "established" else "ramping"
        if (as_of - signed).days < 60:
            trajectory = "ramping"  # too young to have a "previous 30 days" to decline from
        arr, plan, seats = _commercials(rng, segment)
        name = names[i]
        plans.append(
            _AccountPlan(
                id=f"acc-{i + 1:04d}",
                name=name,
                domain=f"{_slug(name)}.example",
                segment=segment,
                arr=arr,
                plan=plan,
                seats=seats,
                signed_date=signed,
                renewal_date=_next_anniversary(signed, as_of),
                trajectory=trajectory,
                language=languages[i],
                seed=rng.getrandbits(64),
            )
        )

    # Rank by ARR; ties go to the lower id so the ranking is total and stable.
    for rank, p in enumerate(sorted(plans, key=lambda p: (-p.arr, p.id)), start=1):
        p.top_rank = rank
        p.owner_csm, p.manager = CSM_TEAM[(rank - 1) % len(CSM_TEAM)]
        p.stage = _stage(p, as_of)
        p.people = _people(_stream(p, "contacts"), p)
    return plans


def _commercials(rng: random.Random, segment: str) -> tuple[float, str, int]:
    """ARR, plan and seats; ARR skews to the low end of each band (long tail)."""
    if segment == "smb":
        lo, hi, step = 5_000, 45_000, 100
    elif segment == "mid_market":
        lo, hi, step = 50_000, 200_000, 1_000
    else:
        lo, hi, step = 200_000, 1_500_000, 5_000
    # Log-uniform with a skew: many accounts near the floor, a few near the ceiling.
    arr = lo * (hi / lo) ** (rng.random() ** 1.4)
    arr = float(min(hi, max(lo, round(arr / step) * step)))
    if segment == "smb":
        plan = "starter" if arr < 15_000 else "team"
    else:
        plan = "business" if segment == "mid_market" else "enterprise"
    seats = max(3, round(arr / (LIST_PRICE_PER_SEAT[plan] * rng.uniform(0.85, 1.15))))
    return arr, plan, seats


def _stage(p: _AccountPlan, as_of: date) -> str:
    age = (as_of - p.signed_date).days
    if age < 10:
        return "new"
    if age <= 30:
        return "onboarding"
    if p.trajectory == "declining":
        return "at_risk"  # the risk matters more than the calendar
    if (p.renewal_date - as_of).days <= 90:
        return "renewing"
    return "adopting"


def _company_names(rng: random.Random, n: int) -> list[str]:
    """n unique company names whose slugs (and so domains) are unique too."""
    names: list[str] = []
    slugs: set[str] = set()
    while len(names) < n:
        base = f"{rng.choice(NAME_PREFIXES)}{rng.choice(NAME_CORES)} {rng.choice(NAME_SUFFIXES)}"
        candidates = [base] + [f"{base} {q}" for q in NAME_QUALIFIERS]
        for name in candidates:
            if _slug(name) not in slugs:
                break
        else:
            continue  # all variants taken: draw another base
        slugs.add(_slug(name))
        names.append(name)
    return names


def _people(rng: random.Random, p: _AccountPlan) -> list[_Person]:
    """Contacts: a sponsor (decision maker), a champion (primary), then others."""
    count = {"smb": (2, 3), "mid_market": (3, 5), "enterprise": (4, 6)}[p.segment]
    roles = [rng.choice(SPONSOR_ROLES[p.segment]), "Champion"]
    roles += rng.sample(ROLE_POOLS[p.segment], rng.randint(*count) - 2)
    firsts, lasts = PEOPLE[p.language]
    people: list[_Person] = []
    emails: set[str] = set()
    for role in roles:
        while True:
            first, last = rng.choice(firsts), rng.choice(lasts)
            email = f"{_ascii(first)}.{_ascii(last)}@{p.domain}"
            if email not in emails:
                break
        emails.add(email)
        people.append(_Person(f"{first} {last}", email, role, role in DECISION_ROLES))
    people[1].is_primary = True  # the champion is the day-to-day contact
    return people


# ---------------------------------------------------------------- per-table rows


def _account_row(p: _AccountPlan) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "arr": p.arr,
        "segment": p.segment,
        "plan": p.plan,
        "seats": p.seats,
        "stage": p.stage,
        "top_rank": p.top_rank,
        "signed_date": p.signed_date,
        "renewal_date": p.renewal_date,
        "owner_csm": p.owner_csm,
        "manager": p.manager,
    }


def _contact_rows(p: _AccountPlan, as_of: date) -> list[dict]:
    rng = _stream(p, "contact-facts")
    mood = {
        "healthy": (0.2, 0.8),
        "flat": (-0.1, 0.5),
        "declining": (-0.8, 0.1),
        "ramping": (0.3, 0.9),
    }[p.mood]
    age = max(0, (as_of - p.signed_date).days)
    rows = []
    for person in p.people:
        if person.is_decision_maker or person.role == "Champion":
            influence = "high" if person.is_decision_maker or rng.random() < 0.6 else "medium"
        else:
            influence = rng.choice(("low", "medium", "medium"))
        # Decision makers of a sliding account are the least happy people in it.
        shift = -0.2 if person.is_decision_maker and p.trajectory == "declining" else 0.0
        sentiment = max(-1.0, min(1.0, rng.uniform(*mood) + shift))
        touched = rng.randint(1, 21) if person.is_primary else rng.randint(5, 120)
        rows.append(
            {
                "account_id": p.id,
                "name": person.name,
                "email": person.email,
                "role": person.role,
                "is_decision_maker": person.is_decision_maker,
                "is_primary": person.is_primary,
                "influence": influence,
                "sentiment": round(sentiment, 2),
                "last_touch": as_of - timedelta(days=min(touched, age)),
            }
        )
    return rows


def _usage_rows(
    p: _AccountPlan, as_of: date, days: int, stored: Callable[[date], object]
) -> Iterator[tuple]:
    """Daily usage per feature: level x trajectory x weekday x noise, as tuples in
    `_USAGE_COLUMNS` order, each day already as the database stores it (`stored`)."""
    rng = _stream(p, "usage")
    seats = p.seats
    # Weekday active users on `as_of` (or before a decline); below seats so the
    # cap rarely bites and a growing account visibly grows. An outgrowing account
    # has more people using it than it licenses (shared logins, a true-up due).
    outgrowing = p.trajectory == "outgrowing"
    users = seats * (rng.uniform(1.3, 1.5) if outgrowing else rng.uniform(0.45, 0.85))
    integrations = {"smb": (1, 4), "mid_market": (3, 8), "enterprise": (6, 15)}[p.segment]
    level = {
        "active_users": users,
        "agent_resolutions": users * rng.uniform(1.5, 6.0),
        "api_calls": seats * rng.uniform(20, 200),
        "integrations": float(rng.randint(*integrations)),
        "reports": users * rng.uniform(0.05, 0.3),
    }
    trend = _trend(rng, p, as_of, days)
    start = as_of - timedelta(days=days - 1)
    aid = p.id
    rand = rng.random
    for i in range(days):
        day = start + timedelta(days=i)
        if day < p.signed_date:
            continue  # no usage before the contract
        m = trend(day)
        stored_day = stored(day)
        weekend = day.weekday() >= 5
        for feature in FEATURES:
            v = level[feature] * m * (WEEKEND[feature] if weekend else 1.0)
            v = round(v * (0.88 + 0.24 * rand()))
            if feature == "active_users" and v > seats and not outgrowing:
                v = seats
            yield aid, stored_day, feature, float(v)


def _trend(rng: random.Random, p: _AccountPlan, as_of: date, days: int) -> Callable[[date], float]:
    """The account's usage multiplier as a function of the day."""
    if p.trajectory in ("healthy", "outgrowing"):
        # Grows 15-60% over the window (outgrowing: 160-250%, so the last 30 days
        # beat the 30 before by about 30%) and ends at the account's level on as_of.
        low, high = (1.6, 2.5) if p.trajectory == "outgrowing" else (0.15, 0.6)
        growth, span = rng.uniform(low, high), max(days - 1, 1)
        return lambda day: (1.0 + growth * (1 - (as_of - day).days / span)) / (1.0 + growth)
    if p.trajectory == "declining":
        # Drops 38-64% starting about a month ago, over a week: the last 30 days
        # clearly trail the 30 before (about -30% to -60% on the sums; the weekend mix of
        # the two windows moves that by a few points).
        floor, onset = rng.uniform(0.36, 0.62), rng.randint(28, 31)

        def declining(day: date) -> float:
            ago = (as_of - day).days
            return 1.0 if ago >= onset else max(floor, 1 - (1 - floor) * (onset - ago) / 7)

        return declining
    if p.trajectory == "dropping":
        # Steady, then down to 20-35% of its level within two days, 4-6 days ago.
        cliff, onset = rng.uniform(0.2, 0.35), rng.randint(4, 6)

        def dropping(day: date) -> float:
            ago = (as_of - day).days
            return 1.0 if ago > onset else cliff if ago < onset - 1 else (1 + cliff) / 2

        return dropping
    if p.trajectory == "ramping":
        # Adoption ramps up after signing; the first few days may be zero.
        lag, ramp = rng.randint(0, 3), rng.randint(14, 35)
        return lambda day: min(1.0, max(0, (day - p.signed_date).days - lag) / ramp)
    return lambda day: 1.0


def _contract_rows(p: _AccountPlan, as_of: date) -> list[dict]:
    """The signed terms, from the first deal to the one that ends at the renewal: a
    year each (an enterprise account two years in sometimes signed one two-year
    term), each earlier term smaller (the account grew into today's ARR and seats),
    each with its own discount off the list price."""
    rng = _stream(p, "contracts")
    years = max(1, p.renewal_date.year - p.signed_date.year)
    spans = [2] if p.segment == "enterprise" and years == 2 and rng.random() < 0.4 else [1] * years
    arr, seats, terms = p.arr, p.seats, []
    for span in reversed(spans):  # back from the current term
        terms.append((span, arr, seats))
        growth = rng.uniform(0.03, 0.25)
        arr, seats = float(round(arr / (1 + growth), -2)), max(3, round(seats / (1 + growth)))
    rows, start = [], p.signed_date
    for n, (span, arr, seats) in enumerate(reversed(terms)):
        end = _add_years(start, span)
        discount = rng.choice(DISCOUNTS)
        rows.append(
            {
                "account_id": p.id,
                "kind": "new" if n == 0 else "renewal",
                "start_date": start,
                "end_date": end - timedelta(days=1),
                "term_months": 12 * span,
                "plan": p.plan,
                "seats": seats,
                "list_arr": float(round(arr / (1 - discount / 100))),
                "arr": arr,
                "discount_pct": discount,
                "signed_by": p.people[0].name,
            }
        )
        start = end
    return rows


def _ticket_rows(plans: list[_AccountPlan], as_of: date) -> list[dict]:
    """Tickets of the last 90 days, numbered T-1001... in order of creation."""
    rows: list[dict] = []
    for p in plans:
        rng = _stream(p, "tickets")
        low, high, angry_share = TICKET_MIX[p.mood]
        window = min(_TICKET_WINDOW_DAYS, (as_of - p.signed_date).days + 1)
        templates = TICKETS[p.language]
        # Tickets come from the people who run the tool, rarely from the sponsor.
        requesters = [c for c in p.people if not c.is_decision_maker] or p.people
        for _ in range(rng.randint(low, high)):
            ago = rng.randrange(window)
            angry = rng.random() < angry_share
            subject, body = rng.choice(templates["angry" if angry else "calm"])
            person = rng.choice(requesters)
            text = body.format(
                first=person.name.split()[0],
                company=p.name,
                seats=p.seats,
                seats_plus=p.seats + rng.randint(3, 25),
                role=person.role,
                arr=f"{p.arr:,.0f}",
                n=rng.randint(12, 140),
            )
            rows.append(
                {
                    "account_id": p.id,
                    "subject": subject,
                    "body": text,
                    "requester_email": person.email,
                    "created_at": _at(rng, as_of - timedelta(days=ago)),
                    "status": _ticket_status(rng, ago, angry),
                    "language": p.language,
                }
            )
    rows.sort(key=lambda r: (r["created_at"], r["account_id"]))
    for number, row in enumerate(rows, start=1001):
        row["id"] = f"T-{number}"
    return rows


def _ticket_status(rng: random.Random, ago: int, angry: bool) -> str:
    if ago < 7:
        weights = (50, 30, 20)
    elif ago < 30:
        weights = (20, 15, 65)
    else:
        weights = (5, 3, 92)
    if angry:  # escalations linger
        weights = (weights[0] * 2, weights[1], weights[2])
    return rng.choices(("open", "pending", "closed"), weights=weights)[0]


def _note_rows(p: _AccountPlan, as_of: date) -> list[dict]:
    rng = _stream(p, "notes")
    age = max(0, (as_of - p.signed_date).days)
    champion, sponsor = p.people[1].name, p.people[0].name
    texts = rng.sample(NOTES[p.mood], rng.randint(1, len(NOTES[p.mood])))
    if p.stage in ("renewing", "at_risk") and (p.renewal_date - as_of).days <= 90:
        texts.append(RENEWAL_NOTE)
    if p.trajectory == "outgrowing":
        texts.append(OUTGROWING_NOTE)
    rows = []
    for text in texts:
        rows.append(
            {
                "account_id": p.id,
                "at": _at(rng, as_of - timedelta(days=rng.randint(0, min(120, age)))),
                "author": p.manager if rng.random() < 0.15 else p.owner_csm,
                "text": text.format(
                    champion=champion,
                    sponsor=sponsor,
                    n=rng.randint(5, 60),
                    renewal=p.renewal_date.isoformat(),
                ),
            }
        )
    return rows


def _call_rows(p: _AccountPlan, as_of: date) -> list[dict]:
    rng = _stream(p, "calls")
    calls = rng.randint(1, 3) if p.segment == "enterprise" else rng.randint(0, 2)
    if p.trajectory == "declining":
        calls = max(calls, 1)  # someone always gets on the phone with a sliding account
    age = max(0, (as_of - p.signed_date).days)
    csm = p.owner_csm.split("@")[0].capitalize()
    title, lines = CALLS[p.mood]
    rows = []
    for _ in range(calls):
        person = rng.choice(p.people[:2])  # the sponsor or the champion
        speaker = person.name.split()[0]
        text = "\n".join(f"{csm if who == 'csm' else speaker}: {line}" for who, line in lines)
        rows.append(
            {
                "account_id": p.id,
                "at": _at(rng, as_of - timedelta(days=rng.randint(0, min(90, age)))),
                "title": f"{title} with {p.name}",
                "participants": f"{p.owner_csm}, {person.email}",
                "text": text,
            }
        )
    return rows


def _nps_rows(p: _AccountPlan, as_of: date) -> list[dict]:
    rng = _stream(p, "nps")
    scores = {
        "healthy": ((6, 7, 8, 9, 10), (1, 2, 3, 5, 5)),
        "flat": ((5, 6, 7, 8, 9), (1, 2, 3, 3, 1)),
        "declining": ((0, 2, 3, 4, 5, 6, 7, 8), (1, 2, 3, 3, 3, 2, 1, 1)),
        "ramping": ((7, 8, 9, 10), (1, 2, 3, 2)),
    }[p.mood]
    age = max(0, (as_of - p.signed_date).days)
    rows = []
    for person in rng.sample(p.people, min(len(p.people), rng.randint(0, 2))):
        score = rng.choices(*scores)[0]
        bucket = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        rows.append(
            {
                "account_id": p.id,
                "at": _at(rng, as_of - timedelta(days=rng.randint(0, min(180, age)))),
                "contact_email": person.email,
                "score": score,
                "comment": rng.choice(NPS_COMMENTS[bucket]),
            }
        )
    if p.trajectory == "dropping":
        rows.append(
            {
                "account_id": p.id,
                "at": _at(rng, as_of - timedelta(days=rng.randint(0, 2))),
                "contact_email": p.people[1].email,  # the champion
                "score": rng.choice((2, 3, 4)),
                "comment": DROPPING_NPS_COMMENT,
            }
        )
    return rows


# ---------------------------------------------------------------- helpers


def _each(
    plans: list[_AccountPlan], rows: Callable[[_AccountPlan, date], list[dict]], as_of: date
) -> Iterator[dict]:
    return (row for p in plans for row in rows(p, as_of))


def _insert(conn: Connection, model: type[SQLModel], rows: Iterable[dict]) -> int:
    """executemany of plain dicts (no ORM objects, one prepared statement), in
    bounded chunks."""
    total, stream = 0, iter(rows)
    while chunk := list(islice(stream, _CHUNK)):
        conn.execute(insert(model), chunk)
        total += len(chunk)
    return total


def _insert_usage(conn: Connection, plans: list[_AccountPlan], as_of: date, days: int) -> int:
    """The usage rows (nearly all of the book) straight through the driver's
    executemany: SQLAlchemy's per-row parameter processing took half of
    `csops seed`'s time. The day is converted once per day by the column's own
    bind processor (an ISO string on SQLite), so the stored values are the same."""
    usage = table(UsageDaily)
    compiled = insert(usage).compile(dialect=conn.dialect, column_keys=list(_USAGE_COLUMNS))
    day_type = usage.c.day.type.dialect_impl(conn.dialect)
    to_db = day_type.bind_processor(conn.dialect) or (lambda day: day)
    rows: Iterator[Sequence | dict] = (
        row for p in plans for row in _usage_rows(p, as_of, days, to_db)
    )
    if compiled.positiontup is not None:  # positional paramstyle (SQLite's qmark)
        order = [_USAGE_COLUMNS.index(name) for name in compiled.positiontup]
        if order != list(range(len(_USAGE_COLUMNS))):
            rows = ([row[i] for i in order] for row in rows)
    else:  # named paramstyles take mappings
        rows = (dict(zip(_USAGE_COLUMNS, row, strict=True)) for row in rows)
    total, sql = 0, str(compiled)
    while chunk := list(islice(rows, _CHUNK)):
        conn.exec_driver_sql(sql, chunk)
        total += len(chunk)
    return total


def _stream(p: _AccountPlan, purpose: str) -> random.Random:
    # A string seed is hashed with SHA-512, so it is stable across processes
    # (unlike hash()) and each table's draws are independent of the others'.
    return random.Random(f"{p.seed}:{purpose}")


def _at(rng: random.Random, day: date) -> datetime:
    """A business-hours timestamp on the given day, in UTC (the tables want aware times)."""
    return datetime.combine(day, time(rng.randint(8, 18), rng.randrange(60)), tzinfo=UTC)


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a non-leap year
        return d.replace(year=d.year + years, day=28)


def _next_anniversary(signed: date, as_of: date) -> date:
    """The first contract anniversary on or after `as_of` (at least one year in)."""
    years = max(1, as_of.year - signed.year)
    renewal = _add_years(signed, years)
    while renewal < as_of:
        years += 1
        renewal = _add_years(signed, years)
    return renewal


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _ascii(text)).strip("-")


def _ascii(text: str) -> str:
    """Lowercase ASCII: 'Müller' -> 'muller', for emails and domains."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.lower()
