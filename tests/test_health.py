"""The standing health score on a seeded demo book: every component's figures
against the test's own SQL, the score as the weighted sum of the YAML's weights,
the band from its thresholds, history kept per day, a broken health.yaml refused,
and `csops health` through the real CLI.

Plain sync tests over a real SQLite database, like tests/test_renewal_brief.py
(and over PostgreSQL in tests/postgres/).
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import pytest
import yaml
from sqlalchemy import func, or_, select
from support.cli import cli_env, csops
from support.renewal import day_of, q, seeded_book

from activities.renewal_sections import anger_judge
from context.db import make_engine, session
from context.health import compute_health, record_health
from context.queries import account_facts, accounts_facts
from context.tables import Contact, HealthScore, NpsResponse, SupportTicket
from contracts import search_attributes as sa
from csops.demo_book import generate_book
from policies.loader import DEFAULT_POLICY_DIR, PolicyError, load_policies

AS_OF = date(2026, 11, 1)
OPEN = ("open", "new", "awaiting_human", "escalated")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return seeded_book(tmp_path_factory.mktemp("health"), accounts=40, seed=13, as_of=AS_OF)


@pytest.fixture(scope="module")
def shipped():
    """policies/health.yaml as the test reads it (not through the loader)."""
    return yaml.safe_load((DEFAULT_POLICY_DIR / "health.yaml").read_text())


def account_ids(engine) -> list[str]:
    return [r[0] for r in q(engine, "SELECT id FROM account ORDER BY id")]


def day(n: int) -> date:
    return AS_OF - timedelta(days=n)


def active_users(engine, account_id: str) -> tuple[float, float]:
    """Average active users per day: the last 30 days and the 30 before (unrounded)."""
    ((last, previous),) = q(
        engine,
        "SELECT COALESCE(SUM(CASE WHEN day >= :d29 THEN value END), 0) / 30.0, "
        "COALESCE(SUM(CASE WHEN day < :d29 THEN value END), 0) / 30.0 "
        "FROM usagedaily WHERE account_id = :a AND feature = 'active_users' "
        "AND day >= :d59 AND day <= :d0",
        a=account_id,
        d0=str(day(0)),
        d29=str(day(29)),
        d59=str(day(59)),
    )
    return last, previous


def figures(health, name: str) -> dict:
    return next(c for c in health.components if c.name == name).figures


def test_each_component_equals_the_tests_own_sql(engine):
    policies = load_policies()
    with session(engine) as s:
        healths = [compute_health(s, a, AS_OF, policies) for a in account_ids(engine)]
    assert len(healths) == 40
    for h in healths:
        a = h.account_id
        last, previous = active_users(engine, a)
        trend = figures(h, "usage_trend")
        assert trend["last_30"] == round(last, 2), a
        assert trend["previous_30"] == round(previous, 2), a
        change = round((last - previous) / previous * 100, 1) if previous else None
        assert trend["change_pct"] == change, a

        ((seats,),) = q(engine, "SELECT seats FROM account WHERE id = :a", a=a)
        assert figures(h, "seat_utilisation")["utilisation_pct"] == round(last / seats * 100, 1)
        ((used,),) = q(
            engine,
            "SELECT COUNT(DISTINCT feature) FROM usagedaily WHERE account_id = :a "
            "AND day >= :d29 AND day <= :d0 AND value > 0",
            a=a,
            d0=str(day(0)),
            d29=str(day(29)),
        )
        assert figures(h, "usage_breadth")["features_used"] == used

        created = day_of(SupportTicket.created_at)
        ((open_, recent),) = q(
            engine,
            select(
                func.count().filter(SupportTicket.status.in_(OPEN)),
                func.count().filter(created >= day(29)),
            ).where(SupportTicket.account_id == a, created <= day(0)),
        )
        assert (figures(h, "tickets")["open"], figures(h, "tickets")["recent"]) == (open_, recent)

        answered = day_of(NpsResponse.at)
        scores = [
            r[0]
            for r in q(
                engine,
                select(NpsResponse.score).where(
                    NpsResponse.account_id == a, answered >= day(89), answered <= day(0)
                ),
            )
        ]
        promoters = sum(x >= 9 for x in scores)
        detractors = sum(x <= 6 for x in scores)
        nps = figures(h, "nps")
        assert nps["responses"] == len(scores), a
        assert (nps["promoters"], nps["detractors"]) == (promoters, detractors), a
        expected = round((promoters - detractors) / len(scores) * 100, 1) if scores else None
        assert nps["nps"] == expected, a

        key = q(
            engine,
            select(Contact.id, Contact.last_touch).where(
                Contact.account_id == a,
                or_(Contact.is_decision_maker, func.lower(Contact.role).like("%champion%")),
            ),
        )
        touches = {f"contact:{cid}": (AS_OF - t).days if t else None for cid, t in key}
        rel = figures(h, "relationships")
        assert {k: rel[k] for k in touches} == touches, a
        assert rel.get("last_touch_days") == min(
            (d for d in touches.values() if d is not None), default=None
        )

    # The book's data varies: the figures above were not all trivially zero.
    assert {figures(h, "tickets")["open"] for h in healths} != {0}
    assert {figures(h, "nps")["responses"] for h in healths} != {0}


def test_score_is_the_weighted_sum_and_the_band_follows_the_thresholds(engine, shipped):
    policies = load_policies()
    weights = shipped["weights"]
    total = sum(weights.values())
    bands = shipped["bands"]
    seen = set()
    with session(engine) as s:
        for a in account_ids(engine):
            h = compute_health(s, a, AS_OF, policies)
            assert {c.name for c in h.components} == set(weights)
            expected = round(sum(weights[c.name] / total * c.score for c in h.components))
            assert h.score == expected
            band = (
                "healthy"
                if expected >= bands["healthy_at_least"]
                else "watch"
                if expected >= bands["watch_at_least"]
                else "at_risk"
            )
            assert h.band == band
            assert h.weakest == min(h.components, key=lambda c: (c.score, -c.weight)).name
            seen.add(h.band)
    assert len(seen) >= 2  # the book holds accounts in more than one band


def test_a_declining_account_scores_lower_than_a_healthy_one(engine):
    """Picked by their data: the steepest fall in active users with open tickets,
    against the strongest growth with none."""
    trends = []
    for a in account_ids(engine):
        last, previous = active_users(engine, a)
        ((open_,),) = q(
            engine,
            f"SELECT COUNT(*) FROM supportticket WHERE account_id = :a AND status IN {OPEN}",
            a=a,
        )
        if previous:
            trends.append(((last - previous) / previous, open_, a))
    declining = min(t for t in trends if t[1] > 0)
    healthy = max(t for t in trends if t[1] == 0)
    assert declining[0] < 0 < healthy[0]
    policies = load_policies()
    with session(engine) as s:
        low = compute_health(s, declining[2], AS_OF, policies, anger_judge)
        high = compute_health(s, healthy[2], AS_OF, policies, anger_judge)
    assert low.score < high.score
    assert low.band != "healthy"


def test_history_keeps_a_row_per_day_and_the_second_day_has_a_trend(tmp_path):
    engine = seeded_book(tmp_path, accounts=6, seed=3, as_of=AS_OF)
    account = account_ids(engine)[0]
    policies = load_policies()
    week_before = AS_OF - timedelta(days=7)

    first = record_health(engine, account, week_before, policies)
    assert first.trend is None and first.previous_score is None
    second = record_health(engine, account, AS_OF, policies)
    again = record_health(engine, account, AS_OF, policies)  # the same day: replaced

    h = HealthScore
    rows = q(
        engine,
        select(h.as_of, h.score, h.band, h.policy_version, h.components)
        .where(h.account_id == account)
        .order_by(h.as_of),
    )
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (week_before, first.score, first.band, policies.version),
        (AS_OF, again.score, again.band, policies.version),
    ]
    assert second.trend == second.score - first.score
    assert again.trend == again.score - first.score and again.previous_score == first.score
    assert rows[1][4] == [c.model_dump(mode="json") for c in again.components]

    # Every workflow about the account carries the latest stored score (CsopsHealth):
    # it is one of the account's facts, set at start and kept by upserts.
    with session(engine) as s:
        facts, unscored = accounts_facts(s, [account, account_ids(engine)[1]])
        assert account_facts(s, account).health == again.score == facts.health
    assert unscored.health is None
    assert sa.at_start(facts).get(sa.HEALTH) == again.score
    assert sa.HEALTH.value_set(again.score) in sa.account_updates(facts)
    assert sa.at_start(unscored).get(sa.HEALTH) is None
    assert all(u.key != sa.HEALTH for u in sa.account_updates(unscored))

    # A fresh demo book (csops seed --reset) drops the scores of the book it replaces.
    generate_book(engine, accounts=6, seed=3, as_of=AS_OF, reset=True)
    assert q(engine, "SELECT COUNT(*) FROM healthscore") == [(0,)]


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            "healthy_at_least: 70",
            "healthy_at_least: 30",
            "health.yaml: bands: Value error, needs watch_at_least < healthy_at_least",
        ),
        (
            "usage_trend: 0.20 ",
            "usage_trend: lots ",
            "health.yaml: weights.usage_trend: Input should be a valid number",
        ),
        (
            "onboarding: {new: 60, ",
            "onboarding: {",
            "health.yaml: thresholds: Value error, onboarding: one score per stage; no score for stage(s) new",
        ),
        (
            "seat_utilisation: {zero_at: 10, full_at: 80}",
            "seat_utilisation: {zero_at: 10, full_at: 10}",
            "health.yaml: thresholds.seat_utilisation: Value error, zero_at and full_at must differ",
        ),
        (
            "baseline_days: 28",
            "baseline_days: 90",
            "health.yaml: anomaly: Value error, recent_days + baseline_days is 97; the detector reads 91 days of usage",
        ),
        (
            "play_in_bands: [healthy, watch]",
            "play_in_bands: [healthy, at_risk]",
            "health.yaml: growth: Value error, play_in_bands: an account at risk gets no expansion play",
        ),
    ],
)
def test_a_broken_health_policy_names_file_field_and_reason(tmp_path, old, new, expected):
    copy = tmp_path / "broken"
    shutil.copytree(DEFAULT_POLICY_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (copy / "health.yaml").read_text()
    assert old in text
    (copy / "health.yaml").write_text(text.replace(old, new, 1))
    with pytest.raises(PolicyError) as err:
        load_policies(copy)
    assert expected in str(err.value)


async def test_csops_health_prints_the_stored_figures_and_refuses_an_unknown_account(tmp_path):
    env = cli_env(tmp_path)
    engine = make_engine(env["CSOPS_DATABASE_URL"])
    generate_book(engine, accounts=8, seed=5, as_of=AS_OF)
    account = account_ids(engine)[2]

    checked = (await csops(env, "policy", "check", "--json", cwd=tmp_path)).json()
    assert checked["valid"] and checked["version"] == load_policies().version

    (shown,) = (
        await csops(env, "health", account, "--as-of", str(AS_OF), "--json", cwd=tmp_path)
    ).json()
    ((score, band, components),) = q(
        engine,
        select(HealthScore.score, HealthScore.band, HealthScore.components).where(
            HealthScore.account_id == account
        ),
    )
    assert (shown["account_id"], shown["score"], shown["band"]) == (account, score, band)
    assert shown["components"] == components
    assert shown["trend"] is None
    assert shown["computed_at"].endswith("+00:00")
    ((open_,),) = q(
        engine,
        f"SELECT COUNT(*) FROM supportticket WHERE account_id = :a AND status IN {OPEN}",
        a=account,
    )
    tickets = next(c for c in shown["components"] if c["name"] == "tickets")
    assert tickets["figures"]["open"] == open_
    assert sorted(tickets["records"]) == sorted(
        f"ticket:{r[0]}"
        for r in q(
            engine,
            f"SELECT id FROM supportticket WHERE account_id = :a AND date(created_at) <= :d0 "
            f"AND (status IN {OPEN} OR date(created_at) >= :d29)",
            a=account,
            d0=str(day(0)),
            d29=str(day(29)),
        )
    )

    table = await csops(env, "health", account, "--as-of", str(AS_OF), cwd=tmp_path)
    assert table.exited(0) and account in table.out and str(score) in table.out

    unknown = await csops(env, "health", "acc-9999", "--json", cwd=tmp_path)
    assert unknown.exited(2)
    assert json.loads(unknown.err) == {
        "error": "no account acc-9999 in the context database",
        "exit_code": 2,
    }
