"""The account watch (`health/{account_id}`) on a real dev server: the nightly
health sweep signals one always-on watch per account, which shows the score
(`CsopsHealth`) and where the Risk and Growth agents act on the night's findings.

The dev server, not the time-skipping one: the nights are the sweep's `as_of`
days (no timer has to pass), and the visibility queries (`CsopsHealth < 40`) need
the real server's search. Watch ids are business keys (`health/acc-0001`), shared
by every test on the session's server: each test starts with no watch running.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest_asyncio
from sqlalchemy import text
from support.data import CSM, MANAGER, add_account, add_ticket, audit, customer_messages, outbox
from support.polling import eventually
from support.renewal import q
from support.temporal import (
    current_details,
    decide,
    human_requests,
    replay_and_maybe_record,
    wait_for_requests,
)
from support.ticket_server import TrackerServer
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from adapters.launcher import signal_watch
from adapters.ticket_webhook import TicketWebhook
from context.db import session
from context.health import record_health
from context.queries import account_facts
from context.tables import NpsResponse, UsageDaily
from context.watch import watch_findings
from contracts import names
from contracts import search_attributes as sa
from contracts.health import HealthSweepInput, HealthSweepReport
from contracts.ids import watch_id
from contracts.watch import WatchState
from csops.demo_book import generate_book
from csops.ticket_sink import TicketSink
from policies.loader import load_policies
from workflows.health import HealthSweepWorkflow
from workflows.watch import NIGHTS_PER_RUN

TODAY = datetime.now(UTC).date()
DAY = timedelta(days=1)
RUNNING_WATCHES = f"WorkflowType = '{names.ACCOUNT_WATCH_WORKFLOW}' AND ExecutionStatus = 'Running'"


@pytest_asyncio.fixture(autouse=True)
async def no_watch_running(dev_env):
    """Watches left by another test (their worker gone) would swallow this test's
    signals: every running watch is stopped before the test and after it."""

    async def stop_all() -> None:
        async for w in dev_env.client.list_workflows(RUNNING_WATCHES):
            try:
                await dev_env.client.get_workflow_handle(w.id).terminate("test isolation")
            except RPCError as err:  # visibility lags: ended since it was listed
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise

    await stop_all()
    yield
    await stop_all()


def add_usage(engine, account_id: str, per_day: Callable[[int], float]) -> None:
    """Active users per day, `per_day(offset)` for offset -70 (days before TODAY) to
    +1 (the next night's day)."""
    with session(engine) as s:
        for offset in range(-70, 2):
            s.add(
                UsageDaily(
                    account_id=account_id,
                    day=TODAY + offset * DAY,
                    feature="active_users",
                    value=per_day(offset),
                )
            )
        s.commit()


def add_nps(engine, account_id: str, score: int, day: date) -> int:
    with session(engine) as s:
        row = NpsResponse(
            account_id=account_id,
            at=datetime.combine(day, time(0, 30), tzinfo=UTC),
            contact_email=f"sam@{account_id}.example",
            score=score,
            comment="Support has been slow and the product keeps breaking.",
        )
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def wobble(level: float) -> Callable[[int], float]:
    """A steady series with some spread, so the anomaly detector has a scale."""
    return lambda d: level + (d % 5) - 2


def drops_to(level: float, low: float) -> Callable[[int], float]:
    """Steady, then `low` for the last seven days (the detector's recent window)."""
    return lambda d: low if d >= -6 else wobble(level)(d)


def stored(db, day: date) -> dict[str, tuple[int, str]]:
    """account -> (score, band) as the sweep stored them for `day` (the test's SQL)."""
    rows = q(db, "SELECT account_id, score, band FROM healthscore WHERE as_of = :d", d=day)
    return {a: (score, band) for a, score, band in rows}


def avg_active_users(db, account_id: str, first: date, last: date) -> float:
    ((avg,),) = q(
        db,
        "SELECT AVG(value) FROM usagedaily WHERE account_id = :a AND feature = 'active_users' "
        "AND day >= :d0 AND day <= :d1",
        a=account_id,
        d0=str(first),
        d1=str(last),
    )
    return float(avg)


def agents_messages(db, account_id: str) -> list[str]:
    """What the agents sent (not the notifications of human requests): their keys."""
    return [
        m.idempotency_key
        for m in outbox(db, watch_id(account_id))
        if not m.subject.startswith("[csops] Needs you")
    ]


async def sweep(env, tq: str, day: date) -> HealthSweepReport:
    return await env.client.execute_workflow(
        HealthSweepWorkflow.run,
        HealthSweepInput(as_of=day),
        id=f"health-sweep-{uuid.uuid4().hex[:8]}",
        task_queue=tq,
    )


async def watch_state(env, account_id: str) -> WatchState | None:
    return await env.client.get_workflow_handle(watch_id(account_id)).query(
        names.ACCOUNT_WATCH_QUERY, result_type=WatchState | None
    )


async def acted_on(env, account_ids: list[str], day: date) -> None:
    """Until every one of these watches has acted on `day`."""
    for account_id in account_ids:
        await eventually(
            lambda a=account_id: watch_state(env, a),
            30,
            holds=lambda st: st is not None and st.last is not None and st.last.as_of >= day,
            ignoring=(Exception,),  # not started yet
            every_s=0.2,
            what=f"the watch of {account_id} acts on {day}",
        )


async def listed(env, query: str) -> dict[str, int | None]:
    """Workflow id -> its CsopsHealth, for the workflows a visibility query finds."""
    return {
        w.id: w.typed_search_attributes.get(sa.HEALTH)
        async for w in env.client.list_workflows(query)
    }


async def test_every_account_gets_a_watch_that_shows_its_health(dev_env, db, run_worker):
    """Over a seeded book: one watch per account, CsopsHealth equal to the stored
    score, and `CsopsHealth < 40` finds exactly the accounts stored at_risk."""
    generate_book(db, accounts=23, seed=5, as_of=TODAY)
    async with run_worker(dev_env) as tq:
        report = await sweep(dev_env, tq, TODAY)
        scores = stored(db, TODAY)
        assert report.counts.scored == len(scores) == 23
        await acted_on(dev_env, list(scores), TODAY)
        mine = f"WorkflowType = 'AccountWatch' AND TaskQueue = '{tq}'"
        expected = {watch_id(a): score for a, (score, _) in scores.items()}
        assert await eventually(lambda: listed(dev_env, mine), holds=lambda got: got == expected)
        at_risk = {watch_id(a) for a, (_, band) in scores.items() if band == "at_risk"}
        assert at_risk, "the seeded book has accounts at risk"
        found = await eventually(
            lambda: listed(dev_env, f"{mine} AND CsopsHealth < 40"),
            holds=lambda got: set(got) == at_risk,
        )
        assert set(found) == at_risk
        # What the details say: the score and band of the night.
        a, (score, band) = next(iter(scores.items()))
        details = await dev_env.client.get_workflow_handle(watch_id(a)).describe()
        assert details.typed_search_attributes.get(sa.STAGE) == band
        assert details.typed_search_attributes.get(sa.HEALTH) == score
        shown = await current_details(dev_env.client.get_workflow_handle(watch_id(a)))
        assert f"Health **{score}** · **{band}** on {TODAY}" in shown


async def test_risk_agent_alerts_summarises_asks_and_opens_one_ticket_per_dip(
    dev_env, db, run_worker
):
    drop_big, drop_small, risky = "w-drop-big", "w-drop-small", "w-risky-grower"
    add_account(db, drop_big, arr=120_000, top_rank=3)  # at or over the task threshold
    add_account(db, drop_small, arr=20_000, top_rank=150)
    add_account(db, risky, arr=80_000, top_rank=10, stage="at_risk")
    add_usage(db, drop_big, drops_to(60, 5))
    add_usage(db, drop_small, drops_to(40, 4))
    # Uses more than its 50 seats, but its users fell by 40% a month ago, its NPS is
    # a detractor's and its stage at risk: no expansion play.
    add_usage(db, risky, lambda d: wobble(100)(d) if d < -29 else wobble(60)(d))
    add_nps(db, risky, 3, TODAY - 60 * DAY)
    dip = add_nps(db, drop_big, 2, TODAY)
    threshold = load_policies().health.risk.csm_task_at_arr_at_least
    assert 20_000 < threshold <= 120_000

    with TrackerServer() as tracker:
        async with run_worker(dev_env, settings={"ticket_webhook_url": tracker.url}) as tq:
            await sweep(dev_env, tq, TODAY)
            await acted_on(dev_env, [drop_big, drop_small, risky], TODAY)
            scores = stored(db, TODAY)

            # The drop: an alert and a summary to the owner CSM, with the evidence.
            for account, level in ((drop_big, 60), (drop_small, 40)):
                wid = watch_id(account)
                sent = await eventually(
                    lambda w=wid: outbox(db, w), holds=lambda rows: len(rows) >= 2
                )
                alert, summary = sent[:2]
                assert alert.audience == summary.audience == "internal"
                assert alert.to == summary.to == CSM
                assert alert.subject.startswith("[csops] Risk alert")
                recent = avg_active_users(db, account, TODAY - 6 * DAY, TODAY)
                assert f"{recent:.1f} a day over the last 7 days" in alert.body
                assert f"median of {level:.1f}" in alert.body
                assert summary.subject.startswith("[csops] Health summary")
                score, band = scores[account]
                assert f"{score}/100, {band}" in summary.body
                rows = await eventually(
                    lambda w=wid: {(r.action, r.outcome): r for r in audit(db, w)},
                    holds=lambda got: ("health_summary", "sent") in got,
                )
                assert rows["usage_anomaly_alert", "sent"].autonomy == "autonomous"
                assert rows["health_summary", "sent"].autonomy == "supervised"
                assert rows["health_summary", "sent"].detail["sampled_for_review"] == (
                    summary.sampled_for_review
                )
                detail = rows["usage_anomaly_alert", "sent"].detail
                assert (detail["as_of"], detail["score"], detail["band"]) == (
                    TODAY.isoformat(),
                    score,
                    band,
                )
                assert "active_users fell to" in detail["reason"]

            # A task for the big account only (ARR at or over the threshold).
            big = dev_env.client.get_workflow_handle(watch_id(drop_big))
            [task] = await wait_for_requests(big)
            assert (task.kind, task.action) == ("task", "csm_task")
            assert task.eligible_approvers == [CSM, MANAGER]
            shown = await current_details(big)
            assert f"usage\\_anomaly\\_alert sent to {CSM} (autonomous)" in shown
            assert f"CSM task risk-{TODAY} asked" in shown
            # The request shows in the query before the activity auditing it is done.
            [asked] = await eventually(
                lambda: [r for r in audit(db, big.id) if r.action == "csm_task"],
                holds=lambda rows: len(rows) == 1,
                what="the CSM task audited",
            )
            assert asked.outcome == "requested"
            assert (asked.detail["as_of"], asked.detail["score"], asked.detail["band"]) == (
                TODAY.isoformat(),
                *scores[drop_big],
            )
            assert "active_users fell to" in asked.detail["reason"]
            assert (
                await human_requests(dev_env.client.get_workflow_handle(watch_id(drop_small))) == []
            )

            # One internal ticket for the detractor, on the test's tracker.
            assert [p["body"]["external_id"] for p in tracker.posts] == [f"nps:{dip}"]
            opened = await eventually(
                lambda: [r for r in audit(db, watch_id(drop_big)) if r.action == "internal_ticket"],
            )
            assert [(r.outcome, r.detail["ticket"]) for r in opened] == [
                ("opened", tracker.created[0]["id"])
            ]
            [(ticket_row,)] = q(
                db, "SELECT external_id FROM internalticket WHERE dip_key = :k", k=f"nps:{dip}"
            )
            assert ticket_row == tracker.created[0]["id"]

            # The high-risk account: it outgrows its seats, and gets no play.
            assert scores[risky][1] == "at_risk"
            assert avg_active_users(db, risky, TODAY - 29 * DAY, TODAY) / 50 >= 0.85
            assert not [r for r in audit(db, watch_id(risky)) if r.action == "expansion_play"]
            assert customer_messages(db, watch_id(risky)) == []

            # The same night again, then the next night: no second ticket for the dip,
            # and alerts again only where the band got worse.
            before = {a: agents_messages(db, a) for a in (drop_big, drop_small)}
            await sweep(dev_env, tq, TODAY)
            await sweep(dev_env, tq, TODAY + DAY)
            await acted_on(dev_env, [drop_big, drop_small, risky], TODAY + DAY)
            assert len(tracker.posts) == 1
            rank = {"healthy": 0, "watch": 1, "at_risk": 2}
            tomorrow = stored(db, TODAY + DAY)
            for account in (drop_big, drop_small):
                worse = rank[tomorrow[account][1]] > rank[scores[account][1]]
                alerts = [
                    m
                    for m in outbox(db, watch_id(account))
                    if m.subject.startswith("[csops] Risk alert")
                ]
                assert len(alerts) == 1 + worse, (account, scores[account], tomorrow[account])
                if not worse:
                    assert agents_messages(db, account) == before[account]
            state = await watch_state(dev_env, drop_big)
            assert state is not None and state.tickets == [f"nps:{dip}"] and state.nights == 2


async def test_a_band_crossing_alerts_summarises_and_opens_one_ticket_once(dev_env, db, run_worker):
    """A declining account crosses into a worse band: exactly one alert, one summary
    and one internal ticket (a health dip) on the test's tracker; the same night swept
    again adds nothing."""
    slide = "w-slide"
    add_account(db, slide, arr=20_000, top_rank=150)  # under the task threshold
    add_usage(db, slide, wobble(40))  # 80% of its 50 seats, steady: no play, no drop
    with TrackerServer() as tracker:
        async with run_worker(dev_env, settings={"ticket_webhook_url": tracker.url}) as tq:
            await sweep(dev_env, tq, TODAY - DAY)
            await acted_on(dev_env, [slide], TODAY - DAY)
            _, band_before = stored(db, TODAY - DAY)[slide]
            assert agents_messages(db, slide) == [] and tracker.posts == []

            # Overnight it slides: its users fall away this week, three angry tickets
            # stay open, and the CSM marks it at risk.
            with db.begin() as conn:
                conn.execute(
                    text("UPDATE usagedaily SET value = 4 WHERE account_id = :a AND day >= :d"),
                    {"a": slide, "d": str(TODAY - 6 * DAY)},
                )
                conn.execute(
                    text("UPDATE account SET stage = 'at_risk' WHERE id = :a"), {"a": slide}
                )
            for n in range(3):
                add_ticket(
                    db,
                    f"w-slide-{n}",
                    slide,
                    "Unacceptable",
                    "This is unacceptable. We are evaluating other vendors.",
                )
            await sweep(dev_env, tq, TODAY)
            await acted_on(dev_env, [slide], TODAY)
            _, band_after = stored(db, TODAY)[slide]
            rank = {"healthy": 0, "watch": 1, "at_risk": 2}
            assert rank[band_after] > rank[band_before], (band_before, band_after)
            wid = watch_id(slide)

            def tonight() -> list[tuple[str, str]]:
                return sorted(
                    (r.action, r.outcome)
                    for r in audit(db, wid)
                    if r.detail.get("as_of") == TODAY.isoformat()
                )

            acted = [
                ("health_summary", "sent"),
                ("internal_ticket", "opened"),
                ("usage_anomaly_alert", "sent"),
            ]
            # The watch records the night, then acts on it: until its actions are in.
            assert await eventually(tonight, holds=lambda got: got == acted) == acted
            # The same night swept again adds nothing (the next night, acted on, shows
            # that the watch has handled the repeated one before it).
            await sweep(dev_env, tq, TODAY)
            await sweep(dev_env, tq, TODAY + DAY)
            await acted_on(dev_env, [slide], TODAY + DAY)
            assert tonight() == acted

            dip = f"health:{slide}:{TODAY}:{band_after}"
            [post] = [p for p in tracker.posts if str(TODAY) in p["body"]["external_id"]]
            assert post["body"]["external_id"] == dip
            assert post["body"]["labels"] == ["csops", "health-dip"]
            assert post["headers"]["Idempotency-Key"] == dip
            sent = [m for m in outbox(db, wid) if f"/{TODAY}/" in f"/{m.idempotency_key}/"]
            assert [m.subject.split(":")[0] for m in sent] == [
                "[csops] Risk alert",
                "[csops] Health summary",
            ]
            assert f"band {band_before} → {band_after}" in sent[0].body
            [(ticket,)] = q(db, "SELECT external_id FROM internalticket WHERE dip_key = :k", k=dip)
            assert ticket == tracker.created[tracker.posts.index(post)]["id"]
            await replay_and_maybe_record(
                dev_env.client.get_workflow_handle(wid), "account_watch_band_ticket"
            )


async def test_growth_agent_plays_at_the_policy_level(dev_env, db, run_worker):
    small, top, top_rejected = "w-grow-small", "w-grow-top", "w-grow-top-2"
    add_account(db, small, arr=20_000, top_rank=150)  # supervised: to the CSM only
    add_account(db, top, arr=300_000, top_rank=2)  # top-50: copilot
    add_account(db, top_rejected, arr=250_000, top_rank=4)
    for account in (small, top, top_rejected):
        add_usage(db, account, wobble(60))  # 60 people on 50 seats

    async with run_worker(dev_env) as tq:
        await sweep(dev_env, tq, TODAY)
        await acted_on(dev_env, [small, top, top_rejected], TODAY)
        scores = stored(db, TODAY)

        # Supervised at a small account: the play (evidence, offer, drafted outreach)
        # goes to the CSM; nothing to the customer.
        avg = avg_active_users(db, small, TODAY - 29 * DAY, TODAY)
        seats = max(math.ceil(50 * 0.2), math.ceil(avg / 0.7) - 50)
        [play] = await eventually(lambda: outbox(db, watch_id(small)))
        assert (play.audience, play.to) == ("internal", CSM)
        assert play.subject == f"[csops] Expansion play: {small} Inc"
        assert f"add {seats} seats (50 → {50 + seats})" in play.body
        assert "Hi Sam" in play.body and "sends nothing to the customer" in play.body
        assert customer_messages(db, watch_id(small)) == []
        [row] = await eventually(
            lambda: [r for r in audit(db, watch_id(small)) if r.action == "expansion_play"]
        )
        assert (row.outcome, row.autonomy) == ("sent", "supervised")
        assert row.detail["score"] == scores[small][0]

        # Copilot at a top-50 account: the account team decides; approved, the drafted
        # outreach goes to the primary contact; rejected, nothing goes.
        drafts = {}
        for account, decision in ((top, "approve"), (top_rejected, "reject")):
            handle = dev_env.client.get_workflow_handle(watch_id(account))
            [request] = await wait_for_requests(handle)
            assert (request.kind, request.action, request.autonomy.value) == (
                "approval",
                "expansion_play",
                "copilot",
            )
            assert request.draft and "Hi Sam" in request.draft
            assert f"add {seats} seats" in request.draft
            drafts[account] = request.draft
            assert customer_messages(db, watch_id(account)) == []
            await decide(handle, request_id=request.request_id, decision=decision, approver=CSM)
        sent = await eventually(lambda: customer_messages(db, watch_id(top)))
        assert [(m.to, m.body) for m in sent] == [(f"sam@{top}.example", drafts[top])]
        rows = await eventually(
            lambda: {
                r.outcome: r for r in audit(db, watch_id(top)) if r.action == "expansion_play"
            },
            holds=lambda got: "sent" in got,
        )
        assert list(rows) == ["requested", "approved", "sent"]
        for outcome in ("requested", "sent"):
            d = rows[outcome].detail
            assert (d["as_of"], d["score"], d["band"]) == (TODAY.isoformat(), *scores[top])
        assert rows["requested"].detail["reason"] == rows["sent"].detail["reason"]
        assert rows["sent"].actor == CSM and rows["sent"].detail["to"] == f"sam@{top}.example"
        await eventually(
            lambda: [r.outcome for r in audit(db, watch_id(top_rejected))],
            holds=lambda outcomes: "rejected" in outcomes,
        )
        assert customer_messages(db, watch_id(top_rejected)) == []
        await replay_and_maybe_record(
            dev_env.client.get_workflow_handle(watch_id(top)), "account_watch_copilot_play"
        )


async def test_the_watch_continues_as_new_with_what_it_knows(dev_env, db, run_worker):
    """After a month of nights with nothing open, the watch continues as new; the
    next run carries the last band and score and acts on the nights still to come."""
    quiet = "w-quiet"
    add_account(db, quiet, arr=20_000, top_rank=150)
    add_usage(db, quiet, wobble(30))
    policies = load_policies()
    health = record_health(db, quiet, TODAY, policies)
    with session(db) as s:
        findings = watch_findings(s, health, policies)
        facts = account_facts(s, quiet)
    assert not findings.at_risk and findings.expansion is None
    async with run_worker(dev_env) as tq:
        for n in range(NIGHTS_PER_RUN + 1):
            night = health.model_copy(update={"as_of": TODAY + n * DAY})
            await signal_watch(
                dev_env.client, tq, facts, findings.model_copy(update={"health": night})
            )
        last = TODAY + NIGHTS_PER_RUN * DAY
        await acted_on(dev_env, [quiet], last)
        handle = dev_env.client.get_workflow_handle(watch_id(quiet))
        state = await watch_state(dev_env, quiet)
        assert state is not None and state.last is not None
        assert (state.nights, state.last.score, state.last.band) == (
            NIGHTS_PER_RUN + 1,
            health.score,
            health.band,
        )
        runs = {
            w.run_id: w.status
            async for w in dev_env.client.list_workflows(f"WorkflowId = '{watch_id(quiet)}'")
        }
        assert sorted(runs.values()) == [
            WorkflowExecutionStatus.RUNNING,
            WorkflowExecutionStatus.CONTINUED_AS_NEW,
        ]
        [first_run] = [r for r, st in runs.items() if st != WorkflowExecutionStatus.RUNNING]
        first = dev_env.client.get_workflow_handle(handle.id, run_id=first_run)
        events = [e async for e in first.fetch_history_events()]
        assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        await replay_and_maybe_record(first, "account_watch_continued")


def test_the_demo_ticket_sink_writes_each_ticket_once(tmp_path):
    """`csops up`'s webhook sink, as the watch's webhook client posts to it: one JSON
    file per ticket; the same dip key posted again gets the ticket it made then."""
    sink = TicketSink(tmp_path / "tickets", port=0)
    try:
        webhook = TicketWebhook(sink.url, timeout=5)
        issue = {"title": "NPS 2/10 at Acme", "description": "evidence", "external_id": "nps:1"}
        first = webhook.open_issue(issue, "nps:1")
        again = webhook.open_issue(issue, "nps:1")
        other = webhook.open_issue({**issue, "external_id": "nps:2"}, "nps:2")
        assert again == first and other.external_id != first.external_id
        files = sink.tickets()
        stored_tickets = [json.loads(p.read_text()) for p in files]
        assert [(t["id"], t["external_id"]) for t in stored_tickets] == [
            (first.external_id, "nps:1"),
            (other.external_id, "nps:2"),
        ]
        assert first.url == files[0].resolve().as_uri()
    finally:
        sink.close()
