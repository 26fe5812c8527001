"""The outcome report (`csops report`) on a real dev server: real workflows run on a
seeded book (a reply the model drafted and the agent sent alone, replies approved,
edited and rejected, a refund handed to a person and done, a hot ticket
acknowledged, a renewal package, a health sweep), then the real CLI's figures are
compared with counts this test makes from the database with its own SQL, and the
HTML page is checked for its charts, window and policy versions."""

from __future__ import annotations

import asyncio
import re
import statistics
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import and_, distinct, func, or_, select
from support.audit import closed_requests
from support.cli import cli_env, csops, target
from support.data import (
    CSM,
    HOT_TEXT,
    HOW_TO,
    HOW_TO_ASSESSMENT,
    HOW_TO_DRAFT,
    add_account,
    add_ticket,
    audit,
)
from support.openai_server import FakeOpenAI, json_answer, provider_for
from support.polling import eventually
from support.renewal import day_of, q
from support.temporal import (
    decide,
    new_ticket_id,
    start_escalation,
    start_renewal_package,
    wait_for_requests,
)

from context.db import session
from context.outcomes import outcome_figures
from context.tables import Account, AuditEvent
from contracts.health import HealthSweepInput
from csops.demo_book import generate_book
from workflows.health import HealthSweepWorkflow

PRICE = 2.5  # USD per million tokens of the fake model, in the test's price file
SEGMENT_UNITS = {
    "tickets_agent_alone", "tickets_agent_and_human", "tickets_by_humans",
    "onboardings_activated", "renewal_packages_before_call", "risks_caught_before_renewal",
}  # fmt: skip


def expected_units(db, by: str) -> dict[str, dict[str, int]]:
    """Units of work per account column `by` (segment, id), counted here from the tables."""

    def grouped(sql: str) -> dict[str, int]:
        return dict(q(db, sql.replace("a.segment", f"a.{by}")))

    esc = "'escalation/' || t.id"
    has = "EXISTS (SELECT 1 FROM auditevent e WHERE e.workflow_id = " + esc + " AND {})"
    tickets = (
        "SELECT a.segment, COUNT(*) FROM supportticket t JOIN account a ON a.id = t.account_id "
        "WHERE {} GROUP BY a.segment"
    )
    approved = has.format("e.outcome IN ('approved', 'edited')")
    sent = has.format("e.idempotency_key = " + esc + " || '/reply/sent' AND e.actor = 'agent'")
    units = {
        "tickets_agent_alone": grouped(
            tickets.format(f"t.status = 'answered' AND {sent} AND NOT {approved}")
        ),
        "tickets_agent_and_human": grouped(tickets.format(f"t.status = 'answered' AND {approved}")),
        "tickets_by_humans": grouped(
            tickets.format("t.status = 'solved' AND " + has.format("e.outcome = 'done'"))
        ),
        "onboardings_activated": grouped(
            "SELECT a.segment, COUNT(*) FROM onboardingreviewrecord r JOIN account a "
            "ON a.id = r.account_id WHERE r.activation_level = 'activated' GROUP BY a.segment",
        ),
        "renewal_packages_before_call": grouped(
            "SELECT a.segment, COUNT(*) FROM renewalpackagerecord p JOIN account a "
            "ON a.id = p.account_id WHERE date(p.created_at) < p.renewal_date GROUP BY a.segment",
        ),
        "risks_caught_before_renewal": risks_caught(db, by),
    }
    segments = {seg for counts in units.values() for seg in counts}
    return {seg: {u: units[u].get(seg, 0) for u in SEGMENT_UNITS} for seg in segments}


def risks_caught(db, by: str) -> dict[str, int]:
    """Accounts and days with a risk raised before the account's renewal, per `by`."""
    e, group = AuditEvent, getattr(Account, by)
    raised = or_(
        and_(e.action == "usage_anomaly_alert", e.outcome == "sent"),
        and_(e.action == "internal_ticket", e.outcome == "opened"),
    )
    return dict(
        q(
            db,
            select(group, func.count(distinct(e.account_id.concat(e.detail["as_of"].as_string()))))
            .join(Account, Account.id == e.account_id)
            .where(raised, day_of(e.at) < Account.renewal_date)
            .group_by(group),
        )
    )


CLOSINGS = ("approved", "edited", "rejected", "acked", "done", "good", "bad")


def waits(db, kind: str | None = None) -> list[float]:
    """Seconds from each request to the row that closed it (of one kind, or all)."""
    return [
        (closing.at - request.at).total_seconds()
        for request, closing in closed_requests(audit(db), CLOSINGS)
        if kind is None or request.detail.get("kind") == kind
    ]


async def settled(db) -> None:
    """Until the audit log stops growing: the watches act a moment after the sweep."""
    seen: list[int] = []

    async def count() -> list[int]:
        await asyncio.sleep(0.5)
        seen.append(q(db, "SELECT COUNT(*) FROM auditevent")[0][0])
        return seen[-6:]

    await eventually(count, 60, holds=lambda last: len(last) == 6 and len(set(last)) == 1)


async def test_report_figures_equal_the_databases_own_counts(tmp_path, dev_env, db, run_worker):
    today = datetime.now(UTC).date()
    generate_book(db, accounts=12, seed=5, as_of=today)
    add_account(db, "out-small", arr=20_000, top_rank=180)
    add_account(db, "out-big", arr=400_000, segment="enterprise", top_rank=12)

    # A model drafts one reply the agent sends alone (tokens the price list prices).
    with FakeOpenAI() as fake:
        fake.script(json_answer(HOW_TO_ASSESSMENT), json_answer(HOW_TO_DRAFT))
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            ticket = new_ticket_id()
            add_ticket(db, ticket, "out-small", *HOW_TO)
            await start_escalation(db, dev_env.client, tq, ticket)
            await eventually(
                lambda: q(db, "SELECT 1 FROM supportticket WHERE id = :t AND status = 'answered'",
                          t=ticket),
                30,
            )  # fmt: skip

    async with run_worker(dev_env) as tq:
        for decision, text in (
            ("approve", None),
            ("edit", "Go to Reports > Export."),
            ("reject", None),
        ):
            ticket = new_ticket_id()
            add_ticket(db, ticket, "out-big", *HOW_TO)
            handle = await start_escalation(db, dev_env.client, tq, ticket)
            [req] = await wait_for_requests(handle)
            await decide(
                handle, request_id=req.request_id, decision=decision, approver=CSM, text=text
            )
        ticket = new_ticket_id()
        add_ticket(db, ticket, "out-small", "Refund please", "We were charged twice, refund us.")
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        [task] = await wait_for_requests(handle)
        assert task.kind == "task"
        await decide(handle, request_id=task.request_id, decision="done", approver=CSM)
        ticket = new_ticket_id()
        add_ticket(db, ticket, "out-big", "Outage", HOT_TEXT)
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        [ack] = await wait_for_requests(handle)
        assert ack.kind == "ack"
        await decide(handle, request_id=ack.request_id, decision="ack", approver=CSM)

        # An account of this test's own: a package id no other test of the session starts.
        await start_renewal_package(db, dev_env.client, tq, "out-big")
        sweep = await dev_env.client.start_workflow(
            HealthSweepWorkflow.run,
            HealthSweepInput(),
            id=f"health-sweep-report-{uuid.uuid4().hex[:6]}",
            task_queue=tq,
        )
        await sweep.result()
        await eventually(lambda: q(db, "SELECT 1 FROM renewalpackagerecord"), 60)
        await settled(db)

    prices = tmp_path / "prices.yaml"
    prices.write_text(f"usd_per_million_tokens:\n  test-model: {PRICE}\n  offline-rules-v1: 0\n")
    env = {**cli_env(tmp_path, target(dev_env)), "CSOPS_LLM_PRICES": str(prices)}
    since = today - timedelta(days=1)
    out = tmp_path / "report"
    run = await csops(env, "report", "--since", since.isoformat(), "--out", str(out), "--json",
                      cwd=tmp_path, timeout_s=60)  # fmt: skip
    got = run.json()

    # Units of work per segment, and for the book.
    expected = expected_units(db, "segment")
    assert got["units_by_segment"] == expected
    for unit in SEGMENT_UNITS:
        assert got["units"][unit] == sum(seg[unit] for seg in expected.values())
    assert got["units"]["tickets_agent_alone"] >= 1
    assert got["units"]["tickets_agent_and_human"] == 2  # approved and edited
    assert got["units"]["tickets_by_humans"] == 1
    assert {
        a["account_id"]: {u: a[u] for u in SEGMENT_UNITS} for a in got["units_by_account"]
    } == expected_units(db, "id")

    # Agent actions by autonomy level.
    e = AuditEvent
    levels = dict(
        q(
            db,
            select(e.autonomy, func.count())
            .where(
                e.autonomy.is_not(None),
                or_(e.outcome == "requested", and_(e.outcome == "sent", e.actor == "agent")),
                func.coalesce(e.detail["kind"].as_string(), "") != "review",
            )
            .group_by(e.autonomy),
        )
    )
    assert got["actions_by_level"] == levels
    assert sum(got["actions_by_work_type"].values()) == sum(levels.values())

    # Human decisions, their turnaround and the hot ack.
    every = waits(db)
    assert got["decisions"] == len(every) >= 5
    assert abs(got["turnaround"]["median_s"] - statistics.median(every)) < 1e-2
    acks = waits(db, "ack")
    assert got["hot_ack"]["n"] == len(acks) == 1
    assert abs(got["hot_ack"]["median_s"] - statistics.median(acks)) < 1e-2
    requests = [e.detail.get("kind") for e in audit(db) if e.outcome == "requested"]
    assert {k["kind"]: k["opened"] for k in got["requests"]} == Counter(requests)

    # A window that begins after the hot ack was asked and before it was given: the
    # request is carried in, and its ack is still a decision of the window.
    [asked] = [
        e.at for e in audit(db) if e.outcome == "requested" and e.detail.get("kind") == "ack"
    ]
    later = asked.replace(tzinfo=UTC) + timedelta(microseconds=1)
    with session(db) as s:
        after_ask = outcome_figures(s, later, datetime.now(UTC), {}, {}, "offline")
    carried = {k.kind: k for k in after_ask.requests}["ack"]
    assert (carried.opened, carried.carried_in, carried.outcomes) == (0, 1, {"acked": 1})
    assert after_ask.hot_ack.n == 1 and abs(after_ask.hot_ack.median_s - acks[0]) < 1e-2

    # Approvals, edits and rejections per action kind (policy stats' figures).
    closed = q(
        db,
        "SELECT action, outcome, COUNT(*) FROM auditevent WHERE outcome IN "
        "('approved', 'edited', 'rejected') GROUP BY action, outcome",
    )
    decided: dict[tuple[str, str], int] = {}
    for d in got["decision_figures"]:
        for outcome in ("approved", "edited", "rejected"):
            if d[outcome]:
                key = (d["action"], outcome)
                decided[key] = decided.get(key, 0) + d[outcome]
    assert decided == {(a, o): n for a, o, n in closed}
    assert decided[("customer_reply", "edited")] == 1

    # LLM calls, tokens and cost: the audit rows times the configured prices.
    models = q(
        db,
        "SELECT model, COUNT(*), COALESCE(SUM(tokens), 0) FROM auditevent "
        "WHERE model IS NOT NULL GROUP BY model",
    )
    llm = got["llm"]
    assert {m["model"]: (m["calls"], m["tokens"]) for m in llm["by_model"]} == {
        m: (n, t) for m, n, t in models
    }
    tokens = {m: t for m, _, t in models}
    assert tokens["test-model"] > 0
    assert abs(llm["cost_usd"] - tokens["test-model"] * PRICE / 1e6) < 1e-9
    calls = sum(n for _, n, _ in models)
    offline = q(
        db, "SELECT COUNT(*) FROM auditevent WHERE model IS NOT NULL AND engine = 'offline'"
    )
    assert llm["calls"] == calls and llm["offline_calls"] == offline[0][0]
    assert abs(llm["offline_share"] - offline[0][0] / calls) < 1e-3

    # CSM load: requests opened per CSM, against the accounts each carries.
    load = {c["csm"]: c for c in got["csm_load"]}
    carried = dict(q(db, "SELECT owner_csm, COUNT(*) FROM account GROUP BY owner_csm"))
    assert {csm: c["accounts"] for csm, c in load.items()} == carried
    asked = dict(
        q(
            db,
            "SELECT a.owner_csm, COUNT(*) FROM auditevent e JOIN account a ON a.id = e.account_id "
            "WHERE e.outcome = 'requested' GROUP BY a.owner_csm",
        )
    )
    assert {
        csm: sum(w["opened"] for w in c["weeks"]) for csm, c in load.items() if asked.get(csm)
    } == asked

    # The page: the window, the policy versions, and charts that exist and decode.
    html = Path(got["html"]).read_text()
    for bound in (got["since"], got["until"]):  # shown to the minute, in UTC
        assert f"{bound[:16].replace('T', ' ')} UTC" in html
    versions = [v for (v,) in q(db, "SELECT DISTINCT policy_version FROM auditevent "
                                     "WHERE policy_version IS NOT NULL")]  # fmt: skip
    assert versions and all(v in html for v in versions)
    assert got["engine"] in html
    images = re.findall(r'<img class="chart" src="([^"]+)"', html)
    assert len(images) == 5
    for src in images:
        with Image.open(out / src) as png:
            png.verify()
            assert png.format == "PNG"
    assert (out / "report.json").exists()


async def test_bad_input_is_one_sentence(tmp_path):
    env = cli_env(tmp_path)
    bad_date = await csops(env, "report", "--since", "last week", cwd=tmp_path)
    assert bad_date.exited(2) and "is not a date (YYYY-MM-DD)" in bad_date.err
    assert "Traceback" not in bad_date.err
    future = await csops(env, "report", "--since", "2999-01-01", cwd=tmp_path)
    assert future.exited(2) and "is not before now" in future.err
    prices = tmp_path / "prices.yaml"
    prices.write_text("usd_per_million_tokens:\n  gpt-4o: cheap\n")
    bad_price = await csops(
        {**env, "CSOPS_LLM_PRICES": str(prices)}, "report", "--out", str(tmp_path / "r"),
        cwd=tmp_path,
    )  # fmt: skip
    assert bad_price.exited(2) and "usd_per_million_tokens.gpt-4o" in bad_price.err
    assert len(bad_price.err.strip().splitlines()) == 1 and "Traceback" not in bad_price.err
