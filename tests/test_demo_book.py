"""Tests of the demo book generator: reproducible, realistic, safe to re-run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from context.db import make_engine, session
from context.tables import (
    Account,
    AuditEvent,
    CallTranscript,
    Contact,
    ContractTerm,
    CrmNote,
    NpsResponse,
    OutboxMessage,
    SupportTicket,
    UsageDaily,
)
from csops.demo_book import (
    CONTEXT_TABLES,
    CSM_TEAM,
    FEATURES,
    BookExistsError,
    book_exists,
    generate_book,
)

AS_OF = date(2025, 6, 15)

ARR_RANGES = {
    "smb": (5_000, 45_000),
    "mid_market": (50_000, 200_000),
    "enterprise": (200_000, 1_500_000),
}


def _engine(tmp_path: Path, name: str = "c"):
    return make_engine(f"sqlite:///{tmp_path}/{name}.db")


def _account_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Account.__table__).order_by("id"))]


def _usage_sums(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT account_id, feature, SUM(value), COUNT(*) FROM usagedaily "
                "GROUP BY account_id, feature ORDER BY account_id, feature"
            )
        ).all()


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def test_same_seed_gives_identical_book_and_other_seed_differs(tmp_path):
    a, b, c = _engine(tmp_path, "a"), _engine(tmp_path, "b"), _engine(tmp_path, "c")
    sa = generate_book(a, accounts=40, seed=11, as_of=AS_OF)
    sb = generate_book(b, accounts=40, seed=11, as_of=AS_OF)
    generate_book(c, accounts=40, seed=12, as_of=AS_OF)

    assert sa == sb
    assert _account_rows(a) == _account_rows(b)
    assert _usage_sums(a) == _usage_sums(b)
    with a.connect() as ca, b.connect() as cb:
        q = "SELECT id, account_id, subject, body, status, created_at FROM supportticket ORDER BY 1"
        assert ca.execute(text(q)).all() == cb.execute(text(q)).all()
        q = "SELECT * FROM contractterm ORDER BY id"
        assert ca.execute(text(q)).all() == cb.execute(text(q)).all()

    assert _account_rows(a) != _account_rows(c)
    assert _usage_sums(a) != _usage_sums(c)


def test_segment_mix_arr_ranges_and_top_rank(tmp_path):
    engine = _engine(tmp_path)
    summary = generate_book(engine, accounts=200, seed=7, as_of=AS_OF)
    with session(engine) as s:
        accounts = s.execute(select(Account)).scalars().all()

    by_segment: dict[str, int] = {}
    for acc in accounts:
        by_segment[acc.segment] = by_segment.get(acc.segment, 0) + 1
        lo, hi = ARR_RANGES[acc.segment]
        assert lo <= acc.arr <= hi, (acc.id, acc.segment, acc.arr)
    assert set(by_segment) == set(ARR_RANGES)
    assert by_segment["smb"] == max(by_segment.values())
    assert by_segment == summary.by_segment

    ranked = sorted(accounts, key=lambda a: a.top_rank)
    assert [a.top_rank for a in ranked] == list(range(1, len(accounts) + 1))
    arrs = [a.arr for a in ranked]
    assert arrs == sorted(arrs, reverse=True)

    # Plans follow segments; seats grow with the segment; CSMs come from the team.
    plans = {"smb": {"starter", "team"}, "mid_market": {"business"}, "enterprise": {"enterprise"}}
    team = dict(CSM_TEAM)
    for acc in accounts:
        assert acc.plan in plans[acc.segment]
        assert team[acc.owner_csm] == acc.manager
    median_seats = {
        seg: sorted(a.seats for a in accounts if a.segment == seg)[by_segment[seg] // 2]
        for seg in ARR_RANGES
    }
    assert median_seats["smb"] < median_seats["mid_market"] < median_seats["enterprise"]


def test_stages_and_renewals_are_spread(tmp_path):
    engine = _engine(tmp_path)
    generate_book(engine, accounts=60, seed=7, as_of=AS_OF)
    with session(engine) as s:
        accounts = s.execute(select(Account)).scalars().all()

    stages = {a.stage for a in accounts}
    assert stages == {"new", "onboarding", "adopting", "renewing", "at_risk"}
    for acc in accounts:
        assert acc.signed_date <= AS_OF <= acc.renewal_date
        assert (acc.renewal_date - AS_OF).days <= 366
        assert (acc.renewal_date.month, acc.renewal_date.day) == (
            acc.signed_date.month,
            acc.signed_date.day,
        ) or (acc.signed_date.month, acc.signed_date.day) == (2, 29)
        if acc.stage == "new":
            assert (AS_OF - acc.signed_date).days < 10
    assert sum((a.renewal_date - AS_OF).days <= 60 for a in accounts) >= 3


def test_declining_and_healthy_usage(tmp_path):
    engine = _engine(tmp_path)
    generate_book(engine, accounts=60, seed=7, as_of=AS_OF)
    last_start = AS_OF - timedelta(days=29)  # last 30 days: last_start .. AS_OF
    prev_start = AS_OF - timedelta(days=59)  # previous 30: prev_start .. last_start - 1
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.id, a.stage, "
                "  SUM(CASE WHEN u.day >= :last_start THEN u.value ELSE 0 END), "
                "  SUM(CASE WHEN u.day < :last_start THEN u.value ELSE 0 END) "
                "FROM account a JOIN usagedaily u ON u.account_id = a.id "
                "WHERE u.feature = 'active_users' AND u.day >= :prev_start AND u.day <= :as_of "
                "GROUP BY a.id, a.stage"
            ),
            {
                "last_start": last_start.isoformat(),
                "prev_start": prev_start.isoformat(),
                "as_of": AS_OF.isoformat(),
            },
        ).all()

    ratios = {acc: (stage, last / prev) for acc, stage, last, prev in rows if prev > 0}
    assert any(r < 0.8 for _, r in ratios.values()), "no declining account"
    assert any(r >= 1.0 for _, r in ratios.values()), "no healthy account"
    # at_risk is exactly the sliding part of the book.
    at_risk = [r for stage, r in ratios.values() if stage == "at_risk"]
    assert at_risk and all(r < 0.8 for r in at_risk)
    assert sum(r >= 0.8 for stage, r in ratios.values() if stage != "at_risk") > len(at_risk)


def test_usage_shape(tmp_path):
    engine = _engine(tmp_path)
    generate_book(engine, accounts=30, seed=3, as_of=AS_OF, days=45)
    with engine.connect() as conn:
        features = {r[0] for r in conn.execute(text("SELECT DISTINCT feature FROM usagedaily"))}
        first, last = conn.execute(select(func.min(UsageDaily.day), func.max(UsageDaily.day))).one()
        over_seats = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT DISTINCT u.account_id FROM usagedaily u "
                    "JOIN account a ON a.id = u.account_id "
                    "WHERE u.feature = 'active_users' AND u.value > a.seats"
                )
            )
        ]
        growth = dict(
            conn.execute(
                text(
                    "SELECT account_id, SUM(CASE WHEN day > :mid THEN value ELSE -value END) "
                    "FROM usagedaily WHERE feature = 'api_calls' GROUP BY account_id"
                ),
                {"mid": (AS_OF - timedelta(days=22)).isoformat()},
            ).all()
        )
        before_signing = conn.execute(
            text(
                "SELECT COUNT(*) FROM usagedaily u JOIN account a ON a.id = u.account_id "
                "WHERE u.day < a.signed_date"
            )
        ).scalar_one()
    assert features == set(FEATURES)
    assert (first, last) == (AS_OF - timedelta(days=44), AS_OF)
    # Only the outgrowing tenth uses more seats than it licenses, and it is growing.
    assert 1 <= len(over_seats) <= 30 // 5
    assert all(growth[account_id] > 0 for account_id in over_seats)
    assert before_signing == 0


def test_second_generate_needs_reset_and_keeps_outbox_and_audit(tmp_path):
    engine = _engine(tmp_path)
    assert not book_exists(engine)
    first = generate_book(engine, accounts=25, seed=5, as_of=AS_OF)
    assert book_exists(engine)

    now = datetime(2025, 6, 15, 12, tzinfo=UTC)
    with session(engine) as s:
        s.add(
            OutboxMessage(
                idempotency_key="wf-1:reply",
                workflow_id="wf-1",
                account_id="acc-0001",
                audience="customer",
                channel="email",
                to="x@example",
                subject="s",
                body="b",
                created_at=now,
            )
        )
        s.add(
            AuditEvent(
                idempotency_key="wf-1:audit",
                at=now,
                workflow_id="wf-1",
                account_id="acc-0001",
                actor="agent",
                action="customer_reply",
                outcome="sent",
            )
        )
        s.commit()

    with pytest.raises(BookExistsError, match="--reset") as excinfo:
        generate_book(engine, accounts=25, seed=5, as_of=AS_OF)
    assert "25 accounts" in str(excinfo.value)
    assert _count(engine, Account) == 25  # nothing was touched

    again = generate_book(engine, accounts=25, seed=5, as_of=AS_OF, reset=True)
    assert again == first
    fresh_engine = _engine(tmp_path, "fresh")
    generate_book(fresh_engine, accounts=25, seed=5, as_of=AS_OF)
    for model in CONTEXT_TABLES:
        assert _count(engine, model) == _count(fresh_engine, model), model.__name__
    assert _account_rows(engine) == _account_rows(fresh_engine)
    assert _count(engine, OutboxMessage) == 1
    assert _count(engine, AuditEvent) == 1


def test_contacts_and_summary_counts_match_the_database(tmp_path):
    engine = _engine(tmp_path)
    summary = generate_book(engine, accounts=50, seed=9, as_of=AS_OF)

    assert summary.accounts == _count(engine, Account) == 50
    assert summary.contacts == _count(engine, Contact)
    assert summary.usage_rows == _count(engine, UsageDaily)
    assert summary.tickets == _count(engine, SupportTicket)
    assert summary.notes == _count(engine, CrmNote)
    assert summary.calls == _count(engine, CallTranscript)
    assert summary.nps == _count(engine, NpsResponse)
    assert summary.contracts == _count(engine, ContractTerm)
    assert summary.as_of == AS_OF and summary.seed == 9
    assert sum(summary.by_segment.values()) == 50

    with engine.connect() as conn:
        per_account = conn.execute(
            select(
                Account.id,
                func.count(Contact.id),
                func.count(Contact.id).filter(Contact.is_primary),
                func.count(Contact.id).filter(Contact.is_decision_maker),
            )
            .outerjoin(Contact, Contact.account_id == Account.id)
            .group_by(Account.id)
        ).all()
        domains_ok = conn.execute(
            text("SELECT COUNT(*) FROM contact c WHERE c.email NOT LIKE '%.example'")
        ).scalar_one()
        ids = [r[0] for r in conn.execute(text("SELECT id FROM account ORDER BY id"))]
        tickets = conn.execute(
            text("SELECT id, requester_email, account_id, language FROM supportticket")
        ).all()
        emails = {(r[0], r[1]) for r in conn.execute(text("SELECT account_id, email FROM contact"))}

    for acc_id, contacts, primaries, deciders in per_account:
        assert 2 <= contacts <= 6, acc_id
        assert primaries == 1, acc_id
        assert deciders >= 1, acc_id
    assert domains_ok == 0
    assert ids == [f"acc-{i:04d}" for i in range(1, 51)]
    assert sorted(int(t[0].removeprefix("T-")) for t in tickets) == list(
        range(1001, 1001 + len(tickets))
    )
    assert all((t[2], t[1]) in emails for t in tickets)  # requesters are the account's contacts


def test_small_book_still_has_an_enterprise_and_a_new_account(tmp_path):
    engine = _engine(tmp_path)
    summary = generate_book(engine, accounts=5, seed=1, as_of=AS_OF)
    assert summary.by_segment["enterprise"] >= 1
    with engine.connect() as conn:
        stages = [r[0] for r in conn.execute(text("SELECT stage FROM account"))]
    assert "new" in stages


def test_a_few_tickets_are_not_in_english_and_some_are_angry(tmp_path):
    engine = _engine(tmp_path)
    generate_book(engine, accounts=100, seed=7, as_of=AS_OF)
    with engine.connect() as conn:
        languages = dict(
            conn.execute(
                text("SELECT language, COUNT(*) FROM supportticket GROUP BY language")
            ).all()
        )
        angry = conn.execute(
            text("SELECT COUNT(*) FROM supportticket WHERE body LIKE '%unacceptable%'")
        ).scalar_one()
    assert languages["en"] > sum(v for k, v in languages.items() if k != "en") > 0
    assert set(languages) <= {"en", "es", "de", "fr"}
    assert angry > 0


def test_invalid_arguments(tmp_path):
    engine = _engine(tmp_path)
    with pytest.raises(ValueError):
        generate_book(engine, accounts=0, as_of=AS_OF)
    with pytest.raises(ValueError):
        generate_book(engine, accounts=3, days=0, as_of=AS_OF)
    assert not book_exists(engine)


def test_contract_terms_run_from_signing_to_the_renewal(tmp_path):
    engine = _engine(tmp_path)
    generate_book(engine, accounts=60, seed=7, as_of=AS_OF)
    with engine.connect() as conn:
        a, t = Account, ContractTerm
        accounts = {
            r[0]: r
            for r in conn.execute(
                select(a.id, a.signed_date, a.renewal_date, a.arr, a.seats, a.plan)
            )
        }
        terms = conn.execute(
            select(
                t.account_id, t.kind, t.start_date, t.end_date, t.term_months, t.plan, t.seats,
                t.list_arr, t.arr, t.discount_pct,
            ).order_by(t.account_id, t.start_date)
        ).all()  # fmt: skip

    by_account: dict[str, list] = {}
    for t in terms:
        by_account.setdefault(t[0], []).append(t)
    assert set(by_account) == set(accounts)
    for account_id, history in by_account.items():
        _, signed, renewal, arr, seats, plan = accounts[account_id]
        assert history[0][1] == "new" and history[0][2] == signed
        assert all(t[1] == "renewal" for t in history[1:])
        for before, after in zip(history, history[1:], strict=False):
            assert before[3] + timedelta(days=1) == after[2]  # contiguous
            assert before[8] <= after[8]  # grew into today's ARR
        current = history[-1]
        assert current[3] + timedelta(days=1) == renewal
        assert (current[5], current[6], current[8]) == (plan, seats, arr)
        for t in history:
            assert t[4] in (12, 24)
            assert abs((t[7] - t[8]) / t[7] * 100 - t[9]) < 0.1  # discount off list
    assert any(t[9] > 0 for t in terms) and any(t[9] == 0 for t in terms)
