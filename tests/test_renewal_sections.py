"""The renewal package sections on a generated demo book: every figure checked
against the test's own SQL, the risk, expansion and decision-maker rules, the pure
pricing proposal, and the stored (escaped, idempotent) artifacts.

Plain sync tests: the activity methods are called directly, no worker needed.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import event, text
from sqlmodel import select
from support.renewal import q, usage_sum
from temporalio.exceptions import ApplicationError

from activities.renewal_sections import RenewalSectionActivities
from context.db import make_engine, session
from context.queries import account_facts
from context.tables import (
    Account,
    AuditEvent,
    Contact,
    NpsResponse,
    RenewalPackageRecord,
    SupportTicket,
)
from contracts.accounts import AccountFacts
from contracts.renewal import (
    ExpansionRecommendation,
    RenewalPackage,
    RiskAssessment,
    SectionInput,
    StorePackageInput,
)
from csops.demo_book import generate_book
from policies.pricing import pricing_proposal

AS_OF = date(2026, 11, 1)
DAY = timedelta(days=1)
ANGRY_SUBJECT = "This is unacceptable"
ANGRY_BODY = (
    "This is unacceptable. The agent was down most of the morning and our customers "
    "waited for hours. I want a call with someone senior today."
)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    generate_book(engine, accounts=80, seed=11, as_of=AS_OF)
    return engine


@pytest.fixture
def acts(engine, tmp_path):
    return RenewalSectionActivities(engine, tmp_path / "artifacts")


def inp(account_id: str) -> SectionInput:
    return SectionInput(account_id=account_id, renewal_date=AS_OF + 60 * DAY, as_of=AS_OF)


# ---------------------------------------------------------------- the test's own SQL


def last_30(engine, account_id: str, feature: str, end: date = AS_OF) -> float:
    return usage_sum(engine, account_id, feature, end - 29 * DAY, end)


def users_change(engine, account_id: str) -> tuple[float, float, float]:
    """(change %, average per day last 30, previous 30) of active users."""
    last = last_30(engine, account_id, "active_users") / 30
    prev = last_30(engine, account_id, "active_users", AS_OF - 30 * DAY) / 30
    return round((last - prev) / prev * 100, 1), last, prev


def established_accounts(engine) -> list[str]:
    """Accounts with usage on the first day of the previous 30-day window and before."""
    return [
        r[0]
        for r in q(
            engine,
            "SELECT account_id FROM usagedaily GROUP BY account_id "
            "HAVING MIN(day) <= :d ORDER BY account_id",
            d=str(AS_OF - 80 * DAY),
        )
    ]


def count_queries(engine):
    statements: list[str] = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return statements, lambda: event.remove(engine, "before_cursor_execute", before)


# ---------------------------------------------------------------- usage and ROI


def test_usage_report_figures_match_sql(engine, acts):
    account_id = q(
        engine,
        "SELECT id FROM account WHERE stage IN ('adopting', 'renewing') ORDER BY top_rank LIMIT 1",
    )[0][0]
    seats = q(engine, "SELECT seats FROM account WHERE id = :a", a=account_id)[0][0]

    report = acts.usage_report(inp(account_id))

    assert report.window_start == AS_OF - 89 * DAY and report.window_end == AS_OF
    assert [f.feature for f in report.features] == [
        "active_users",
        "agent_resolutions",
        "api_calls",
        "integrations",
        "reports",
    ]
    for f in report.features:
        gauge = f.feature in ("active_users", "integrations")
        last = last_30(engine, account_id, f.feature)
        prev = last_30(engine, account_id, f.feature, AS_OF - 30 * DAY)
        weeks = [
            usage_sum(engine, account_id, f.feature, AS_OF - (7 * w + 6) * DAY, AS_OF - 7 * w * DAY)
            for w in range(12, -1, -1)
        ]
        if gauge:
            last, prev = last / 30, prev / 30
            weeks = [round(w / 7, 2) for w in weeks]
        assert f.last_30 == (round(last, 2) if gauge else last), f.feature
        assert f.previous_30 == (round(prev, 2) if gauge else prev), f.feature
        assert f.change_pct == round((last - prev) / prev * 100, 1), f.feature
        assert f.weekly == weeks, f.feature
        assert len(f.weekly) == 13

    ((peak,),) = q(
        engine,
        "SELECT MAX(value) FROM usagedaily WHERE account_id = :a AND "
        "feature = 'active_users' AND day >= :d0 AND day <= :d1",
        a=account_id,
        d0=str(AS_OF - 89 * DAY),
        d1=str(AS_OF),
    )
    avg = last_30(engine, account_id, "active_users") / 30
    assert report.peak_active_users == peak
    assert report.seats == seats
    assert report.avg_active_users_30d == round(avg, 2)
    assert report.seat_utilisation_pct == round(avg / seats * 100, 1)
    assert report.adoption[0].startswith(
        f"seat utilisation {report.seat_utilisation_pct:g}% of {seats:,} seats"
    )
    resolutions = last_30(engine, account_id, "agent_resolutions")
    assert any(
        a.startswith(f"agent resolutions: {resolutions:,.0f} in the last 30 days")
        for a in report.adoption
    )
    ((connected,),) = q(
        engine,
        "SELECT MAX(value) FROM usagedaily WHERE account_id = :a AND "
        "feature = 'integrations' AND day > :d",
        a=account_id,
        d=str(AS_OF - 7 * DAY),
    )
    assert f"integrations: {connected:,.0f} connected" in report.adoption


def test_usage_report_reads_usage_in_one_query(engine, acts):
    account_id = established_accounts(engine)[0]
    statements, stop = count_queries(engine)
    try:
        acts.usage_report(inp(account_id))
    finally:
        stop()
    usage_reads = [st for st in statements if "usagedaily" in st.lower()]
    assert len(usage_reads) == 1
    assert len(statements) <= 3  # the account, its primary contact, its usage


def test_all_sections_at_once_equal_each_section_and_read_each_table_once(engine, acts):
    for account_id in [*established_accounts(engine)[:3], "acc-0001"]:
        section = inp(account_id)
        statements, stop = count_queries(engine)
        try:
            got = acts.renewal_sections(section)
        finally:
            stop()
        assert got.usage == acts.usage_report(section)
        assert got.roi == acts.roi_proof(section)
        assert got.risk == acts.risk_assessment(section)
        assert got.expansion == acts.expansion_recommendation(section)
        assert got.decision_makers == acts.decision_maker_map(section)
        assert got.terms_requests == acts.find_terms_requests(section)
        assert sum("from usagedaily" in st.lower() for st in statements) == 1
        assert sum("from contact" in st.lower() for st in statements) == 2  # primary, all
        assert sum("from account" in st.lower() for st in statements) == 1


def test_roi_proof_figures_match_sql(engine, acts):
    account_id, arr = q(
        engine, "SELECT id, arr FROM account WHERE stage = 'adopting' ORDER BY top_rank LIMIT 1"
    )[0]
    other = q(engine, "SELECT id FROM account WHERE id != :a LIMIT 1", a=account_id)[0][0]
    start = AS_OF - 89 * DAY
    inside = [
        datetime.combine(start, time(0), tzinfo=UTC),
        datetime.combine(AS_OF, time(23, 59), tzinfo=UTC),
        datetime.combine(AS_OF - 40 * DAY, time(12), tzinfo=UTC),
    ]
    outside = [
        datetime.combine(start - DAY, time(23, 59), tzinfo=UTC),
        datetime.combine(AS_OF + DAY, time(0), tzinfo=UTC),
    ]
    events = [(account_id, "agent", at) for at in inside + outside]
    events += [(account_id, "jane@acme.test", inside[2]), (other, "agent", inside[2])]
    with session(engine) as s:
        for n, (acc, actor, at) in enumerate(events):
            s.add(
                AuditEvent(
                    idempotency_key=f"k{n}",
                    at=at,
                    workflow_id=f"wf-{n}",
                    account_id=acc,
                    actor=actor,
                    action="send_message",
                    outcome="ok",
                )
            )
        s.commit()

    roi = acts.roi_proof(inp(account_id))

    resolutions = usage_sum(engine, account_id, "agent_resolutions", start, AS_OF)
    hours = resolutions * 12 / 60
    assert roi.agent_resolutions_90d == resolutions
    assert roi.hours_saved_90d == round(hours, 1)
    assert roi.value_usd_90d == round(hours * 45, 2)
    assert roi.price_paid_90d == round(arr / 4, 2)
    assert roi.roi_multiple == round(hours * 45 / (arr / 4), 2)
    assert roi.agent_actions_90d == len(inside)
    # The customer's AI agent (their product usage) and csops's own agent (our audit
    # log) are named apart.
    assert (
        f"{resolutions:,.0f} support conversations resolved by their AI agent" in (roi.outcomes[0])
    )
    assert f"{len(inside)} actions by csops's account agent" in roi.outcomes[-1]


def test_missing_account_fails_for_good(acts):
    with pytest.raises(ApplicationError) as err:
        acts.usage_report(inp("acc-9999"))
    assert err.value.non_retryable and err.value.type == "NotFound"


# ---------------------------------------------------------------- risk and expansion


def declining_account(engine) -> str:
    """The first established account whose active users fell >= 20% (the test's SQL)."""
    for account_id in established_accounts(engine):
        if users_change(engine, account_id)[0] <= -20:
            return account_id
    raise AssertionError("the demo book has no declining account")


def angry_ticket(ticket_id: str, account_id: str) -> SupportTicket:
    """An open, angry ticket filed two days before AS_OF."""
    return SupportTicket(
        id=ticket_id,
        account_id=account_id,
        subject=ANGRY_SUBJECT,
        body=ANGRY_BODY,
        created_at=datetime(2026, 10, 30, 9, tzinfo=UTC),
    )


def test_declining_account_with_angry_ticket_is_at_risk(engine, acts):
    account_id = declining_account(engine)
    with session(engine) as s:
        s.add(angry_ticket("T-9001", account_id))
        s.commit()
    ((open_tickets,),) = q(
        engine,
        "SELECT COUNT(*) FROM supportticket WHERE account_id = :a AND status = 'open'",
        a=account_id,
    )
    change, last, prev = users_change(engine, account_id)

    risk = acts.risk_assessment(inp(account_id))

    assert risk.level in ("medium", "high")
    assert risk.score >= 35 + 25  # the decline and the angry ticket at least
    assert risk.usage_change_pct == change
    assert risk.open_tickets == open_tickets
    assert risk.angry_open_tickets >= 1
    decline = next(f for f in risk.factors if f.text.startswith("active users down"))
    assert f"{-change:.1f}%" in decline.text
    assert f"avg {last:,.1f}/day vs {prev:,.1f}/day" in decline.text
    assert decline.weight == 35
    angry = next(f for f in risk.factors if "angry open ticket" in f.text)
    assert f"T-9001 “{ANGRY_SUBJECT}”" in angry.text and angry.weight == 25
    assert "T-9001" in [s.ref for s in angry.sources if s.kind == "ticket"]
    # The weights rank the claims; the words carry none.
    assert risk.evidence == [f.text for f in risk.factors]
    assert not [e for e in risk.evidence if "[+" in e or "/100" in e]


def test_risk_nps_and_relationship_rules(engine, acts):
    account_id = "acc-9100"
    with session(engine) as s:
        s.add(
            Account(
                id=account_id,
                name="Quiet Co",
                arr=12_000,
                segment="smb",
                plan="team",
                seats=10,
                stage="renewing",
                top_rank=999,
                signed_date=date(2024, 1, 1),
                renewal_date=date(2027, 1, 1),
                owner_csm="jane@acme.test",
                manager="maria@acme.test",
            )
        )
        s.add(
            Contact(
                account_id=account_id,
                name="Ann Boss",
                email="ann@q.example",
                role="CEO",
                is_decision_maker=True,
                sentiment=-0.5,
                last_touch=AS_OF - 10 * DAY,
            )
        )
        s.add(
            Contact(
                account_id=account_id,
                name="Cam Pion",
                email="cam@q.example",
                role="Champion",
                is_primary=True,
                sentiment=0.4,
                last_touch=AS_OF - 75 * DAY,
            )
        )
        for days_ago, score in ((10, 5), (50, 4), (100, 9), (170, 8), (200, 0)):
            s.add(
                NpsResponse(
                    account_id=account_id,
                    contact_email="ann@q.example",
                    score=score,
                    at=datetime.combine(AS_OF - days_ago * DAY, time(10), tzinfo=UTC),
                )
            )
        s.commit()

    risk = acts.risk_assessment(inp(account_id))

    assert (risk.nps_recent, risk.nps_previous) == (4.5, 8.5)  # averages, named so
    assert risk.usage_change_pct is None and risk.open_tickets == 0
    # Both recent scores (5, 4) detract: NPS -100 from 2 responses.
    assert (risk.nps_score, risk.nps_responses, risk.nps_detractors) == (-100, 2, 2)
    assert (
        "average NPS-survey score 4.5/10 from 2 response(s) in the last 90 days (NPS -100)"
        in risk.evidence
    )
    assert "average NPS-survey score down 4.0 points (4.5 vs 8.5 in the 90 days before)" in (
        risk.evidence
    )
    gaps = [
        "decision maker Ann Boss (CEO) is negative: sentiment -0.50",
        "champion Cam Pion not touched in 75 days",
    ]
    assert risk.champion_changes == gaps
    assert acts.decision_maker_map(inp(account_id)).missing == gaps  # the same gaps
    assert risk.score == 15 + 10 + 15 + 10 and risk.level == "high"


def test_healthy_account_near_seat_limit_gets_expansion(engine, acts):
    account_id = None
    for candidate in established_accounts(engine):
        ((tickets,),) = q(
            engine,
            "SELECT COUNT(*) FROM supportticket WHERE account_id = :a AND status = 'open'",
            a=candidate,
        )
        ((unhappy,),) = q(
            engine,
            "SELECT COUNT(*) FROM contact WHERE account_id = :a AND "
            "is_decision_maker AND sentiment <= -0.3",
            a=candidate,
        )
        ((low_nps,),) = q(
            engine,
            "SELECT COUNT(*) FROM npsresponse WHERE account_id = :a AND score <= 7",
            a=candidate,
        )
        if not (tickets or unhappy or low_nps) and users_change(engine, candidate)[0] > 0:
            account_id = candidate
            break
    assert account_id, "the demo book has no healthy growing account"
    avg = last_30(engine, account_id, "active_users") / 30
    seats = math.floor(avg / 0.9)  # about 90% utilisation
    with session(engine) as s:
        s.get(Account, account_id).seats = seats
        s.commit()
    utilisation = round(avg / seats * 100, 1)
    assert utilisation >= 85

    risk = acts.risk_assessment(inp(account_id))
    expansion = acts.expansion_recommendation(inp(account_id))

    assert risk.level == "low"
    extra = max(math.ceil(seats * 0.2), math.ceil(round(avg, 2) / 0.7) - seats)
    assert expansion.recommended
    assert expansion.suggested_seats == extra
    assert expansion.suggestions[0].startswith(f"add {extra} seats ({seats} → {seats + extra})")
    assert f"seat utilisation {utilisation:g}% of {seats} seats" in expansion.evidence[0]


def test_high_risk_holds_expansion_back(engine, acts):
    account_id = declining_account(engine)
    with session(engine) as s:
        s.add(angry_ticket("T-9002", account_id))
        avg = last_30(engine, account_id, "active_users") / 30
        s.get(Account, account_id).seats = max(1, math.floor(avg / 0.95))
        s.commit()

    assert acts.risk_assessment(inp(account_id)).level == "high"
    expansion = acts.expansion_recommendation(inp(account_id))
    assert not expansion.recommended and expansion.suggested_seats == 0
    assert expansion.evidence[0].startswith("seat utilisation")
    assert expansion.evidence[-1].startswith("held back: renewal risk is high")


def test_onboarding_ramp_up_is_not_expansion(engine, acts):
    ((account_id,),) = q(
        engine,
        "SELECT account_id FROM usagedaily GROUP BY account_id HAVING "
        "MIN(day) > :d AND MIN(day) <= :e ORDER BY account_id LIMIT 1",
        d=str(AS_OF - 59 * DAY),
        e=str(AS_OF - 40 * DAY),
    )
    expansion = acts.expansion_recommendation(inp(account_id))
    assert not expansion.recommended
    assert any("ramp-up" in e for e in expansion.evidence)


# ---------------------------------------------------------------- decision-maker map


def test_decision_maker_map_order_and_gaps(engine, acts):
    account_id = q(
        engine,
        "SELECT account_id FROM contact GROUP BY account_id "
        "HAVING COUNT(*) >= 4 ORDER BY account_id LIMIT 1",
    )[0][0]
    rows = q(
        engine, select(Contact.name, Contact.last_touch).where(Contact.account_id == account_id)
    )

    dm = acts.decision_maker_map(inp(account_id))

    assert sorted(c.name for c in dm.contacts) == sorted(r[0] for r in rows)
    rank = {"high": 0, "medium": 1, "low": 2}
    keys = [(not c.is_decision_maker, rank[c.influence]) for c in dm.contacts]
    assert keys == sorted(keys)
    assert dm.contacts[0].is_decision_maker
    touched = dict(rows)
    assert all(c.days_since_touch == (AS_OF - touched[c.name]).days for c in dm.contacts)
    assert "no champion" not in dm.missing and "no executive sponsor" not in dm.missing

    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM contact WHERE account_id = :a AND role = 'Champion'"),
            {"a": account_id},
        )
    assert "no champion" in acts.decision_maker_map(inp(account_id)).missing

    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE contact SET is_decision_maker = false WHERE account_id = :a AND "
                "(role LIKE '%CEO%' OR role LIKE '%VP%' OR role LIKE '%Chief%' OR "
                "role LIKE '%Head%' OR role LIKE '%Director%')"
            ),
            {"a": account_id},
        )
        conn.execute(
            text("UPDATE contact SET last_touch = :d WHERE account_id = :a"),
            {"a": account_id, "d": str(AS_OF - 45 * DAY)},
        )
    missing = acts.decision_maker_map(inp(account_id)).missing
    assert "no executive sponsor" in missing
    assert "no contact touched in the last 30 days" in missing
    assert missing == acts.risk_assessment(inp(account_id)).champion_changes


# ---------------------------------------------------------------- pricing (pure)


def facts(arr: float = 100_000, seats: int = 50) -> AccountFacts:
    return AccountFacts(
        account_id="acc-1",
        name="Acme",
        arr=arr,
        segment="mid_market",
        plan="business",
        seats=seats,
        stage="renewing",
        top_rank=1,
        renewal_date=date(2027, 1, 1),
        owner_csm="jane@acme.test",
        manager="maria@acme.test",
    )


def risk(level: str, score: int) -> RiskAssessment:
    return RiskAssessment(
        level=level,
        score=score,
        evidence=[],
        usage_change_pct=None,
        open_tickets=0,
        angry_open_tickets=0,
        nps_recent=None,
        nps_previous=None,
        champion_changes=[],
    )


NO_EXPANSION = ExpansionRecommendation(
    recommended=False, suggestions=[], suggested_seats=0, evidence=[]
)


def test_pricing_proposal_by_risk_level():
    high = pricing_proposal(facts(), risk("high", 70), NO_EXPANSION)
    assert not [r for r in high.rationale if "70" in r]  # no score in the words
    medium = pricing_proposal(facts(), risk("medium", 30), NO_EXPANSION)
    low = pricing_proposal(facts(), risk("low", 5), NO_EXPANSION)
    assert (high.current_arr, high.proposed_arr, high.change_pct) == (100_000, 100_000, 0.0)
    assert (medium.proposed_arr, medium.change_pct) == (103_000, 3.0)
    assert (low.proposed_arr, low.change_pct) == (107_000, 7.0)
    assert "hold the price" in high.rationale[0] and "protect the renewal" in high.rationale[0]
    assert pricing_proposal(facts(), risk("low", 5), NO_EXPANSION) == low  # deterministic


def test_pricing_proposal_prices_expansion_seats():
    expansion = ExpansionRecommendation(
        recommended=True,
        suggestions=["add 10 seats (50 → 60): utilisation 75.0%"],
        suggested_seats=10,
        evidence=[],
    )
    low = pricing_proposal(facts(arr=99_999, seats=7), risk("low", 0), expansion)
    # 99,999 x 1.07 + 10 x 99,999 / 7 = 106,998.93 + 142,855.71 = 249,854.64
    assert low.proposed_arr == 249_855
    assert low.change_pct == round((249_855 - 99_999) / 99_999 * 100, 1)
    assert any("+10 seats at $14,285.57/seat" in r for r in low.rationale)
    no_seats = pricing_proposal(facts(seats=0), risk("medium", 30), expansion)
    assert no_seats.proposed_arr == 103_000


def test_pricing_proposal_prices_plan_upgrade_and_add_ons():
    expansion = ExpansionRecommendation(
        recommended=True,
        suggestions=["add 10 seats", "next plan tier: business → enterprise", "add-on"],
        suggested_seats=10,
        evidence=[],
        next_plan="enterprise",
        add_ons=["agent_resolutions"],
    )
    got = pricing_proposal(facts(arr=90_000, seats=100), risk("medium", 30), expansion)
    # base 90,000 x 1.03 x 1,100/900 = 113,300; seats 10 x 900 x 1,100/900 = 11,000;
    # add-on 8% of the base = 9,064
    assert got.proposed_arr == 113_300 + 11_000 + 9_064
    assert any("plan upgrade business → enterprise" in r for r in got.rationale)
    held = expansion.model_copy(update={"recommended": False})
    assert pricing_proposal(facts(arr=90_000), risk("medium", 30), held).proposed_arr == 92_700


# ---------------------------------------------------------------- the stored artifact


def build_package(acts, engine, account_id: str) -> RenewalPackage:
    with session(engine) as s:
        account = account_facts(s, account_id)
    section = SectionInput(account_id=account_id, renewal_date=account.renewal_date, as_of=AS_OF)
    r = acts.risk_assessment(section)
    e = acts.expansion_recommendation(section)
    return RenewalPackage(
        account=account,
        renewal_date=account.renewal_date,
        as_of=AS_OF,
        usage=acts.usage_report(section),
        roi=acts.roi_proof(section),
        risk=r,
        expansion=e,
        decision_makers=acts.decision_maker_map(section),
        pricing=pricing_proposal(account, r, e),
    )


def test_store_renewal_package_escapes_and_is_idempotent(engine, acts, tmp_path):
    account_id = declining_account(engine)
    with session(engine) as s:
        s.get(Account, account_id).name = "<script>alert(1)</script> & Co"
        s.commit()
    package = build_package(acts, engine, account_id)
    store = StorePackageInput(
        workflow_id="renewal/x/1", package=package, artifact_dir=str(tmp_path / "artifacts")
    )

    first = acts.store_renewal_package(store)

    base = tmp_path / "artifacts" / account_id / f"renewal-{package.renewal_date}"
    assert first.markdown_path == str(base.with_suffix(".md"))
    assert first.html_path == str(base.with_suffix(".html"))
    markdown = base.with_suffix(".md").read_text()
    html = base.with_suffix(".html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert "<script>" not in html
    for doc in (markdown, html):
        assert "copilot: the csm decides" in doc.lower()
        assert "Signing: off-limits for the agent — a human task." in doc
        assert "Figures computed from the context database" in doc
        assert "no model involved" in doc
        assert f"{package.roi.agent_resolutions_90d:,.0f}" in doc  # thousands separators
    headings = [
        "## The story",
        "## Agenda for the call",
        "## Risks, with the evidence",
        "## Expansion case",
        "## Decision-maker map",
        "## Commercial history",
        "## Usage",
        "## Value delivered (90 days)",
        "## Evidence",
        "## Signing",
    ]
    assert [markdown.index(h) for h in headings] == sorted(markdown.index(h) for h in headings)
    html_headings = [f"<h2>{h[3:]}</h2>" for h in headings]
    assert [html.index(h) for h in html_headings] == sorted(html.index(h) for h in html_headings)

    base.with_suffix(".md").unlink()
    base.with_suffix(".html").write_text("tampered")
    changed = package.model_copy(update={"terms_requests": ['CRM note 2026-10-01: "redline"']})
    again = acts.store_renewal_package(store.model_copy(update={"package": changed}))

    assert again == first
    assert base.with_suffix(".md").read_text() == markdown
    assert base.with_suffix(".html").read_text() == html
    with session(engine) as s:
        rows = s.exec(select(RenewalPackageRecord)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.id, row.workflow_id, row.account_id) == (
        first.package_id,
        "renewal/x/1",
        account_id,
    )
    assert row.risk_level == package.risk.level and row.markdown == markdown
    assert RenewalPackage.model_validate(row.package) == package
