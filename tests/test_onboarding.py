"""The 30-day onboarding on the time-skipping server: thirty days in seconds.

Plan days come from policies/onboarding.yaml (smb: messages on days 0, 2, 9,
16; checks on days 7, 14, 23; re-checks 4 days later; review on day 30).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import select
from support.data import CSM, MANAGER, add_account, audit, customer_messages, outbox
from support.temporal import (
    current_details,
    decide,
    replay_and_maybe_record,
    wait_for_requests,
)
from support.temporal import onboarding_plan as plan
from support.temporal import start_onboarding as start_account_onboarding

from adapters.launcher import start_onboarding
from context.db import session
from context.queries import account_facts
from context.tables import Account, OnboardingReviewRecord, UsageDaily
from contracts import search_attributes as sa
from contracts.onboarding import (
    CustomerEventInput,
    OnboardingReview,
    PauseInput,
    ResumeInput,
)

DAY = timedelta(days=1)


def add_usage(
    engine, account_id: str, day0: date, first_day: int, last_day: int, **per_day: float
) -> None:
    """Daily usage from plan day `first_day` to `last_day` (plan day 0 is `day0`)."""
    with session(engine) as s:
        for d in range(first_day, last_day + 1):
            for feature, value in per_day.items():
                s.add(
                    UsageDaily(
                        account_id=account_id, day=day0 + d * DAY, feature=feature, value=value
                    )
                )
        s.commit()


async def healthy_usage(engine, env, account_id: str) -> None:
    """Usage that meets every smb check, dated from the server's clock (earlier
    tests on the shared time-skipping server have moved it on)."""
    day0 = (await env.get_current_time()).date()
    add_usage(engine, account_id, day0, 1, 40, integrations=1)
    add_usage(engine, account_id, day0, 3, 40, active_users=8)
    add_usage(engine, account_id, day0, 10, 40, agent_resolutions=5)


async def launch(engine, env, tq, account_id):
    return await start_account_onboarding(engine, env.client, tq, account_id)


def sent_on_day(messages, start: datetime) -> list[tuple[str, float]]:
    """(key suffix, plan day) of each message, to the hour."""
    return [
        (m.idempotency_key.split("/", 2)[2], round((m.created_at - start) / DAY, 1))
        for m in messages
    ]


async def test_healthy_smb_account_runs_the_whole_plan_alone(ts_env, db, run_worker):
    add_account(db, "acc-healthy", arr=18_000, stage="new")
    await healthy_usage(db, ts_env, "acc-healthy")
    async with run_worker(ts_env) as tq:
        handle = await launch(db, ts_env, tq, "acc-healthy")
        review: OnboardingReview = await handle.result()
        await replay_and_maybe_record(handle, "onboarding_smb_healthy")

    customer = customer_messages(db, handle.id)
    assert [m.to for m in customer] == ["sam@acc-healthy.example"] * 4
    start = (await handle.describe()).start_time
    assert sent_on_day(customer, start) == [
        ("welcome/message", 0.0),
        ("first_integration/message", 2.0),
        ("team_active/message", 9.0),
        ("key_feature/message", 16.0),
    ]
    assert "Welcome to Acme" in customer[0].body and "acc-healthy Inc" in customer[0].body
    assert all(m.engine == "template" for m in customer)
    assert not [m for m in outbox(db, handle.id) if m.audience == "internal"]  # no human step
    events = audit(db, handle.id)
    assert not [e for e in events if e.outcome == "requested"]
    sent = [e for e in events if e.outcome == "sent"]
    assert {(e.action, e.autonomy, e.policy_rule) for e in sent} == {
        ("onboarding_message", "autonomous", "long-tail-runs-alone")
    }

    assert (review.status, review.activation_level, review.activation_pct) == (
        "On track",
        "activated",
        100.0,
    )
    assert review.milestones_missed == []
    assert review.usage["integrations"] == 1 and review.usage["active_users"] == 8
    assert review.usage["agent_resolutions"] == 5 * 21  # days 10..30 inclusive
    assert review.next_owner == f"agent (adoption program; CSM {CSM})"
    with session(db) as s:
        stored = s.exec(select(OnboardingReviewRecord)).one()
        assert (stored.workflow_id, stored.status) == (handle.id, "On track")
        assert "| 16 | Agent resolving tickets | done | usage" in stored.markdown
        assert s.get(Account, "acc-healthy").stage == "adopting"
    desc = await handle.describe()
    assert desc.typed_search_attributes.get(sa.STAGE) == "Completed"


async def test_no_usage_gets_a_nudge_turns_behind_then_stuck(ts_env, db, run_worker):
    add_account(db, "acc-idle", arr=12_000, stage="new")
    async with run_worker(ts_env) as tq:
        handle = await launch(db, ts_env, tq, "acc-idle")
        await ts_env.sleep(7 * DAY + timedelta(hours=1))  # past the day-7 integration check
        states = await plan(handle)
        assert states["first_integration"].status == "behind"
        assert states["first_integration"].last_check.value == 0
        assert "Status: **Behind**" in await current_details(handle)
        nudges = [m for m in outbox(db, handle.id) if m.idempotency_key.endswith("/nudge")]
        assert [m.subject for m in nudges] == ["acc-idle Inc: First integration connected"]
        assert "has not connected an integration yet" in nudges[0].body
        assert "(0 of 1 so far)" in nudges[0].body
        review: OnboardingReview = await handle.result()

    start = (await handle.describe()).start_time
    keys = sent_on_day(outbox(db, handle.id), start)
    assert ("first_integration/nudge", 7.0) in keys
    # Small account: no CSM alert when behind, one when stuck (re-check 4 days later).
    assert ("first_integration/alert-stuck", 11.0) in keys
    assert not [k for k, _ in keys if k.endswith("alert-behind")]
    stuck_alert = next(
        m
        for m in outbox(db, handle.id)
        if m.idempotency_key.endswith("first_integration/alert-stuck")
    )
    assert stuck_alert.to == CSM and stuck_alert.audience == "internal"
    assert review.status == "Stuck" and review.activation_level == "not activated"
    assert review.next_owner == CSM
    assert "First integration connected: stuck (integrations max 0 of 1)" in review.open_risks
    with session(db) as s:
        assert s.get(Account, "acc-idle").stage == "at_risk"


async def test_enterprise_is_human_led_and_nothing_leaves_before_approval(ts_env, db, run_worker):
    add_account(db, "acc-ent", arr=650_000, segment="enterprise", top_rank=2, stage="new")
    await healthy_usage(db, ts_env, "acc-ent")
    async with run_worker(ts_env) as tq:
        handle = await launch(db, ts_env, tq, "acc-ent")
        requests = {r.request_id: r for r in await wait_for_requests(handle, count=2)}
        assert set(requests) == {"task-1", "approval-1"}
        assert requests["task-1"].title == "Kickoff call: run it with acc-ent Inc"
        assert requests["task-1"].autonomy.value == "off_limits"
        welcome = requests["approval-1"]
        assert welcome.autonomy.value == "copilot"
        assert (
            "Welcome to Acme" in welcome.draft and f"{CSM} leads your onboarding" in welcome.draft
        )
        assert not customer_messages(db, handle.id)

        await decide(handle, request_id="task-1", decision="done", approver=CSM)
        await decide(
            handle,
            request_id="approval-1",
            decision="edit",
            approver=MANAGER,
            text="Dear team, welcome. Maria",
        )
        review: OnboardingReview = await handle.result()
        await replay_and_maybe_record(handle, "onboarding_enterprise")
        states = await plan(handle)

    customer = customer_messages(db, handle.id)
    # Only what a human approved left: the edited welcome. Later copilot steps,
    # undecided, expired without sending.
    assert [m.body for m in customer] == ["Dear team, welcome. Maria"]
    events = audit(db, handle.id)
    assert {e.outcome for e in events if e.action == "onboarding_message"} >= {
        "requested",
        "edited",
        "expired",
    }
    assert states["kickoff"].status == "done" and states["kickoff"].completed_by == f"human {CSM}"
    assert states["training"].status == "missed"  # the task expired undone
    assert review.next_owner == CSM


async def test_integration_connected_early_completes_it_and_no_nudge_is_sent(
    ts_env, db, run_worker
):
    add_account(db, "acc-fast", arr=9_000, stage="new")  # no integration usage at all
    async with run_worker(ts_env) as tq:
        handle = await launch(db, ts_env, tq, "acc-fast")
        await ts_env.sleep(DAY)
        await handle.signal("customer_event", CustomerEventInput(event="integration_connected"))
        await handle.signal("customer_event", CustomerEventInput(event="won_the_lottery"))
        await handle.result()
        states = await plan(handle)
        details = await current_details(handle)

    keys = [m.idempotency_key.split("/", 2)[2] for m in outbox(db, handle.id)]
    assert not [k for k in keys if k.startswith("first_integration/")]
    assert states["first_integration"].status == "done"
    assert states["first_integration"].completed_by == "event integration_connected"
    assert states["first_integration"].last_check is None  # the check never ran
    # Escaped for the UI's Markdown: the underscores show as they are, not as italics.
    assert "ignored unknown event 'won\\_the\\_lottery'" in details


async def test_pause_for_five_days_moves_the_rest_of_the_plan(ts_env, db, run_worker):
    add_account(db, "acc-pause", arr=15_000, stage="new")
    await healthy_usage(db, ts_env, "acc-pause")
    async with run_worker(ts_env) as tq:
        handle = await launch(db, ts_env, tq, "acc-pause")
        await ts_env.sleep(DAY)
        await handle.signal("pause", PauseInput(reason="customer on holiday"))
        await ts_env.sleep(5 * DAY)
        assert (await handle.describe()).typed_search_attributes.get(sa.STAGE) == "Paused"
        await handle.signal("resume", ResumeInput())
        await handle.result()

    start = (await handle.describe()).start_time
    assert sent_on_day(outbox(db, handle.id), start) == [
        ("welcome/message", 0.0),
        ("first_integration/message", 7.0),
        ("team_active/message", 14.0),
        ("key_feature/message", 21.0),
    ]
    with session(db) as s:
        review_at = s.exec(select(OnboardingReviewRecord)).one().at
    assert round((review_at - start) / DAY, 1) == 35.0


async def test_worker_stopped_mid_plan_loses_nothing_and_sends_nothing_twice(
    ts_env, db, run_worker
):
    add_account(db, "acc-crash", arr=22_000, stage="new")
    await healthy_usage(db, ts_env, "acc-crash")
    # No workflow cache on the first worker: a cached run's next task goes to the
    # worker's sticky queue, and the time-skipping test server (unlike a real
    # server) never moves it back once that worker is gone; time stays locked.
    async with run_worker(ts_env, max_cached_workflows=0) as tq:
        handle = await launch(db, ts_env, tq, "acc-crash")
        await ts_env.sleep(10 * DAY)
    # First worker gone mid-plan; a new one picks the plan up from history.
    assert len(outbox(db, handle.id)) == 3
    async with run_worker(ts_env, task_queue=tq):
        review: OnboardingReview = await handle.result()
    keys = [m.idempotency_key for m in outbox(db, handle.id)]
    assert len(keys) == len(set(keys)) == 4
    assert review.status == "On track"


async def test_a_second_launch_starts_nothing(dev_env, db, run_worker):
    # The real dev server: a run terminated mid-activity on the time-skipping server
    # keeps that server from skipping time for the tests after it.
    add_account(db, "acc-twice", arr=30_000, stage="new")
    async with run_worker(dev_env) as tq:
        handle = await launch(db, dev_env, tq, "acc-twice")
        with session(db) as s:
            facts = account_facts(s, "acc-twice")
        again = await start_onboarding(dev_env.client, tq, facts)
        assert not again.started and again.handle.id == handle.id == "onboarding/acc-twice"
        # Still the first run: nothing new was started.
        assert (await again.handle.describe()).run_id == handle.result_run_id
        await handle.terminate("test done")
