"""What the nightly sweep finds per account (context/watch.py) on a seeded demo book:
the usage anomaly's median, MAD and z against the test's own SQL and arithmetic
(an account whose last week the test drops is flagged, a steady one is not), a band
crossing after the test makes the next day worse, the detractors of the window
exactly as the test's own SQL selects them, and the expansion signal equal to the
renewal package's recommendation (held back when the test puts the account at risk).

Plain sync tests over a real SQLite database, like tests/test_health.py (and over
PostgreSQL in tests/postgres/).
"""

from __future__ import annotations

import shutil
import statistics
from datetime import UTC, date, datetime, time, timedelta

import pytest
import yaml
from sqlalchemy import func, select, update
from support.renewal import q, seeded_book

from activities.renewal_sections import RenewalSectionActivities, anger_judge
from context.db import session
from context.health import record_health
from context.renewal_sections import WEEKS
from context.tables import Account, Contact, NpsResponse, SupportTicket, UsageDaily
from context.watch import watch_findings
from contracts.health import BandCrossing, WatchFindings
from contracts.renewal import SectionInput
from policies.loader import DEFAULT_POLICY_DIR, load_policies
from policies.model import AnomalyDetector

AS_OF = date(2026, 11, 1)
RANK = {"healthy": 0, "watch": 1, "at_risk": 2}


@pytest.fixture(scope="module")
def policies():
    return load_policies()


@pytest.fixture
def engine(tmp_path):
    """A fresh book per test: the tests change its data."""
    return seeded_book(tmp_path, accounts=30, seed=13, as_of=AS_OF)


def day(n: int, as_of: date = AS_OF) -> date:
    return as_of - timedelta(days=n)


def account_ids(engine) -> list[str]:
    return [r[0] for r in q(engine, "SELECT id FROM account ORDER BY id")]


def findings(engine, account_id: str, policies, as_of: date = AS_OF) -> WatchFindings:
    health = record_health(engine, account_id, as_of, policies, anger_judge)
    with session(engine) as s:
        return watch_findings(s, health, policies, anger_judge)


# ---------------------------------------------------------------- anomaly


def own_detector(engine, account_id: str, rules) -> dict | None:
    """The detector's figures from the test's own SQL: daily values of the feature
    (0 for a day without a row, from the account's first usage day in the 13 weeks
    on), the baseline's median and MAD and the recent mean's modified z-score; None
    without a single baseline day."""
    u = UsageDaily
    ((first,),) = q(
        engine,
        select(func.min(u.day)).where(
            u.account_id == account_id, u.day >= day(90), u.day <= day(0)
        ),
    )
    values = dict(
        q(
            engine,
            select(u.day, func.sum(u.value))
            .where(
                u.account_id == account_id,
                u.feature == rules.feature,
                u.day > day(rules.recent_days + rules.baseline_days),
                u.day <= day(0),
            )
            .group_by(u.day),
        )
    )
    recent = [values.get(day(n), 0.0) for n in range(rules.recent_days)]
    baseline = [
        values.get(day(n), 0.0)
        for n in range(rules.recent_days, rules.recent_days + rules.baseline_days)
        if first is not None and day(n) >= first
    ]
    if not baseline:
        return None
    median = statistics.median(baseline)
    mad = statistics.median([abs(v - median) for v in baseline])
    recent_mean = sum(recent) / len(recent)
    return {
        "baseline": baseline,
        "recent_mean": recent_mean,
        "median": median,
        "mad": mad,
        "z": 0.6745 * (recent_mean - median) / mad if mad else None,
    }


def test_a_dropped_week_is_flagged_with_the_tests_own_median_mad_and_z(engine, policies):
    rules = policies.health.anomaly
    judged = {}
    for a in account_ids(engine):
        own = own_detector(engine, a, rules)
        if (
            own
            and len(own["baseline"]) == rules.baseline_days
            and own["mad"]
            and own["median"] >= 5
        ):
            judged[a] = own
    steady = [a for a, own in judged.items() if own["z"] > rules.z_at_most]
    assert len(steady) >= 2, "the book has accounts with a steady, judged series"
    # The busiest steady account gets its last 7 days cut to a fifth.
    dropped = max(steady, key=lambda a: judged[a]["median"])
    calm = next(a for a in steady if a != dropped)
    assert findings(engine, dropped, policies).anomaly is None  # steady before the drop

    u = UsageDaily
    with engine.begin() as conn:
        conn.execute(
            update(u)
            .where(
                u.account_id == dropped,
                u.feature == rules.feature,
                u.day >= day(rules.recent_days - 1),
            )
            .values(value=func.round(u.value / 5))
        )
    own = own_detector(engine, dropped, rules)
    assert own and own["z"] <= rules.z_at_most  # the drop is an anomaly by the test's own numbers

    anomaly = findings(engine, dropped, policies).anomaly
    assert anomaly is not None
    assert anomaly.feature == rules.feature
    assert (anomaly.recent_days, anomaly.baseline_days) == (rules.recent_days, rules.baseline_days)
    assert anomaly.recent_mean == pytest.approx(own["recent_mean"])
    assert anomaly.baseline_median == pytest.approx(own["median"])
    assert anomaly.baseline_mad == pytest.approx(own["mad"])
    assert anomaly.z == pytest.approx(own["z"])
    assert anomaly.z_at_most == rules.z_at_most
    assert anomaly.records == [
        f"usage:{rules.feature}:{day(n)}" for n in reversed(range(rules.recent_days))
    ]

    calm_findings = findings(engine, calm, policies)
    assert calm_findings.anomaly is None
    assert judged[calm]["z"] > rules.z_at_most


def test_a_flat_baseline_uses_the_mean_absolute_deviation(engine, policies):
    """MAD 0 (most baseline days equal): z = (recent mean - median) / (1.2533 x MeanAD)."""
    rules = policies.health.anomaly
    a = max(
        account_ids(engine),
        key=lambda a: (own_detector(engine, a, rules) or {"median": 0})["median"],
    )
    # 24 of the 28 baseline days at 40, one a week at 30, the last week at 12.
    u = UsageDaily
    with engine.begin() as conn:
        for n in range(rules.recent_days + rules.baseline_days):
            value = 12 if n < rules.recent_days else 30 if n % 7 == 0 else 40
            conn.execute(
                update(u)
                .where(u.account_id == a, u.feature == rules.feature, u.day == day(n))
                .values(value=value)
            )
    own = own_detector(engine, a, rules)
    assert own and own["mad"] == 0 and own["median"] == 40
    mean = sum(own["baseline"]) / len(own["baseline"])
    mean_ad = sum(abs(v - mean) for v in own["baseline"]) / len(own["baseline"])

    anomaly = findings(engine, a, policies).anomaly
    assert anomaly is not None
    assert anomaly.baseline_mad == pytest.approx(1.2533 * mean_ad)
    assert anomaly.z == pytest.approx((12 - 40) / (1.2533 * mean_ad))


# ---------------------------------------------------------------- band crossing


def make_worse(engine, account_id: str, on: date) -> None:
    """Open tickets and detractor responses on `on`, key contacts gone sour, the
    account's stage at_risk."""
    at = datetime.combine(on, time(15), tzinfo=UTC)
    with session(engine) as s:
        for n in range(6):
            s.add(
                SupportTicket(
                    id=f"T-WORSE-{account_id}-{n}",
                    account_id=account_id,
                    subject="Everything is broken",
                    body="Nothing works since yesterday.",
                    created_at=at,
                    status="open",
                )
            )
        for n in range(3):
            s.add(NpsResponse(account_id=account_id, at=at, contact_email=f"p{n}@x.test", score=0))
        s.commit()
    with engine.begin() as conn:
        conn.execute(update(Contact).where(Contact.account_id == account_id).values(sentiment=-1))
        conn.execute(update(Account).where(Account.id == account_id).values(stage="at_risk"))


def stored(engine, account_id: str, as_of: date) -> tuple[int, str]:
    ((score, band),) = q(
        engine,
        "SELECT score, band FROM healthscore WHERE account_id = :a AND as_of = :d",
        a=account_id,
        d=str(as_of),
    )
    return score, band


def test_a_worse_band_the_next_day_is_a_crossing(engine, policies):
    yesterday = AS_OF - timedelta(days=1)
    healthy = [
        a
        for a in account_ids(engine)
        if record_health(engine, a, yesterday, policies, anger_judge).band == "healthy"
    ]
    assert len(healthy) >= 2
    worse, others = healthy[0], healthy[1:]
    make_worse(engine, worse, AS_OF)

    crossed = findings(engine, worse, policies)
    before, after = stored(engine, worse, yesterday), stored(engine, worse, AS_OF)
    assert RANK[after[1]] > RANK[before[1]]  # the test's change did make it worse
    assert crossed.crossing == BandCrossing(
        from_band=before[1],
        to_band=after[1],
        from_score=before[0],
        to_score=after[0],
        since=yesterday,
    )
    assert crossed.at_risk

    # Still healthy the next day: no crossing.
    unchanged = {a: findings(engine, a, policies) for a in others}
    same = [a for a, f in unchanged.items() if f.health.band == "healthy"]
    assert same and all(unchanged[a].crossing is None for a in same)
    assert stored(engine, same[0], yesterday)[1] == stored(engine, same[0], AS_OF)[1]
    # No earlier score: nothing to cross from.
    first_day = yesterday - timedelta(days=1)
    assert findings(engine, worse, policies, as_of=first_day).crossing is None


# ---------------------------------------------------------------- detractors


def own_detractors(engine, account_id: str, since: date, as_of: date, at_most: int) -> list[int]:
    return [
        r[0]
        for r in q(
            engine,
            "SELECT id FROM npsresponse WHERE account_id = :a AND score <= :m "
            "AND date(at) >= :since AND date(at) <= :d0 ORDER BY at, id",
            a=account_id,
            m=at_most,
            since=str(since),
            d0=str(as_of),
        )
    ]


def test_detractors_are_the_responses_of_the_window(engine, policies):
    rules = policies.health
    a = account_ids(engine)[0]
    previous = AS_OF - timedelta(days=20)
    record_health(engine, a, previous, policies, anger_judge)

    def response(on: date, score: int, hour: int = 12) -> NpsResponse:
        at = datetime.combine(on, time(hour), tzinfo=UTC)
        return NpsResponse(account_id=a, at=at, contact_email="t@x.test", score=score)

    with session(engine) as s:
        s.add_all(
            [
                response(previous, 2, hour=23),  # the previous score's day: seen then
                response(previous + timedelta(days=1), 0, hour=0),  # the first day after
                response(AS_OF - timedelta(days=9), rules.risk.detractor_at_most),  # at the line
                response(AS_OF - timedelta(days=3), rules.risk.detractor_at_most + 1),  # passive
                response(AS_OF, 4, hour=23),  # the last hour of as_of
                response(AS_OF + timedelta(days=1), 1, hour=0),  # after as_of
            ]
        )
        s.commit()

    expected = own_detractors(
        engine, a, previous + timedelta(days=1), AS_OF, rules.risk.detractor_at_most
    )
    found = findings(engine, a, policies).detractors
    assert [d.response_id for d in found] == expected
    assert len(expected) >= 3  # the three the test added inside the window, at least
    rows = {
        r[0]: r[1:]
        for r in q(
            engine,
            "SELECT id, score, contact_email, comment FROM npsresponse WHERE account_id = :a",
            a=a,
        )
    }
    assert [(d.score, d.contact_email, d.comment) for d in found] == [rows[i] for i in expected]
    assert [d.dip_key for d in found] == [f"nps:{i}" for i in expected]

    # Without an earlier score: the anomaly's recent days ending at as_of.
    b = account_ids(engine)[1]
    with session(engine) as s:
        s.add(
            NpsResponse(
                account_id=b,
                at=datetime.combine(AS_OF, time(9), tzinfo=UTC),
                contact_email="u@x.test",
                score=3,
            )
        )
        s.commit()
    first = AS_OF - timedelta(days=rules.anomaly.recent_days - 1)
    assert [d.response_id for d in findings(engine, b, policies).detractors] == own_detractors(
        engine, b, first, AS_OF, rules.risk.detractor_at_most
    )


# ---------------------------------------------------------------- expansion


def package_expansion(engine, account_id: str):
    acts = RenewalSectionActivities(engine, artifact_dir="unused")
    ((renewal,),) = q(engine, "SELECT renewal_date FROM account WHERE id = :a", a=account_id)
    return acts.renewal_sections(
        SectionInput(account_id=account_id, renewal_date=renewal, as_of=AS_OF)
    ).expansion


def at_risk_policies(tmp_path):
    """The shipped policies with bands that put every score under 99 at risk."""
    folder = tmp_path / "policies"
    shutil.copytree(
        DEFAULT_POLICY_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    health = yaml.safe_load((folder / "health.yaml").read_text())
    health["bands"] = {"healthy_at_least": 100, "watch_at_least": 99}
    (folder / "health.yaml").write_text(yaml.safe_dump(health))
    return load_policies(folder)


def test_expansion_is_the_renewal_packages_recommendation_and_none_at_risk(
    engine, policies, tmp_path
):
    outgrowing = [a for a in account_ids(engine) if package_expansion(engine, a).recommended]
    assert outgrowing, "the demo book has accounts outgrowing their plan"
    a = outgrowing[0]
    rec = package_expansion(engine, a)

    found = findings(engine, a, policies)
    assert found.health.band in policies.health.growth.play_in_bands and found.anomaly is None
    assert found.expansion is not None
    assert found.expansion.suggestions == rec.suggestions
    assert found.expansion.evidence == rec.evidence
    assert found.expansion.suggested_seats == rec.suggested_seats
    assert (found.expansion.next_plan, found.expansion.add_ons) == (rec.next_plan, rec.add_ons)

    risky = at_risk_policies(tmp_path)
    held = findings(engine, a, risky)
    assert held.health.band == "at_risk"
    assert package_expansion(engine, a).recommended  # the package still recommends it ...
    assert held.expansion is None  # ... the Growth agent does not play it at risk

    others = [x for x in account_ids(engine) if x not in outgrowing]
    assert all(findings(engine, x, policies).expansion is None for x in others[:5])


def test_the_policys_longest_detector_window_is_the_usage_the_detector_reads():
    # health.yaml refuses a window longer than this (tests/test_health.py).
    assert AnomalyDetector.MAX_SPAN_DAYS == WEEKS * 7
