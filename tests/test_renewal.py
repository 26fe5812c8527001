"""Renewal pre-call packages and the nightly sweep, on the real dev server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import func, select
from support.data import audit, outbox
from support.polling import eventually
from support.temporal import (
    current_details,
    decide,
    replay_and_maybe_record,
    wait_for_requests,
)

from adapters.launcher import start_renewal_package
from adapters.settings import load_settings
from context.db import session
from context.queries import account_facts
from context.tables import Account, RenewalPackageRecord, UsageDaily
from contracts.ids import renewal_id
from contracts.renewal import RenewalPackageResult
from contracts.sweep import SweepInput, SweepReport
from csops.demo_book import generate_book
from csops.schedules import SCHEDULE_ID, install
from workflows.renewal import RenewalPackageWorkflow, RenewalSweepWorkflow

DAY = timedelta(days=1)


def today() -> date:
    return datetime.now(UTC).date()


def book(db, accounts: int, seed: int = 5) -> None:
    generate_book(db, accounts=accounts, seed=seed, as_of=today())


def usage_sum(db, account_id: str, feature: str, start: date, end: date) -> float:
    with session(db) as s:
        return s.exec(
            select(func.coalesce(func.sum(UsageDaily.value), 0)).where(
                UsageDaily.account_id == account_id,
                UsageDaily.feature == feature,
                UsageDaily.day >= start,
                UsageDaily.day <= end,
            )
        ).one()


def pick(db, where) -> str:
    with session(db) as s:
        return s.exec(select(Account.id).where(*where).order_by(Account.top_rank)).first()


async def test_package_has_five_sections_from_the_data_and_pricing_waits_for_the_csm(
    dev_env, db, run_worker
):
    book(db, 40)
    account_id = pick(db, [Account.segment == "mid_market"])
    with session(db) as s:
        facts = account_facts(s, account_id)
    async with run_worker(dev_env) as tq:
        launch = await start_renewal_package(dev_env.client, tq, facts)
        handle = launch.handle
        assert handle.id == f"renewal/{account_id}/{facts.renewal_date.isoformat()}"
        requests = {r.kind: r for r in await wait_for_requests(handle, count=2)}

        # Stored: one artifact, two files, figures equal the database's.
        with session(db) as s:
            [record] = s.exec(select(RenewalPackageRecord)).all()
        package = record.package
        for section in ("usage", "roi", "risk", "expansion", "decision_makers"):
            assert package[section], section
        end = today()
        resolutions = usage_sum(db, account_id, "agent_resolutions", end - 89 * DAY, end)
        assert package["roi"]["agent_resolutions_90d"] == resolutions
        active_30 = usage_sum(db, account_id, "active_users", end - 29 * DAY, end) / 30
        assert abs(package["usage"]["avg_active_users_30d"] - active_30) < 0.05
        # The narrative comes from the LLM gateway (offline engine here), labelled,
        # and quotes the package's own figures.
        assert "## The story" in record.markdown and "by the offline engine" in record.markdown
        assert f"{package['roi']['agent_resolutions_90d']:,.0f} conversations" in record.markdown
        html = open(record.html_path).read()
        assert facts.name in html and "Decision-maker map" in html
        assert open(record.markdown_path).read() == record.markdown

        # Pricing is copilot; signing exists only as an off-limits human task.
        pricing, signing = requests["approval"], requests["task"]
        assert (pricing.action, pricing.autonomy.value) == ("renewal_pricing", "copilot")
        assert f"${facts.arr:,.0f}" in pricing.draft
        assert (signing.action, signing.autonomy.value) == ("sign_renewal", "off_limits")
        [ready] = await eventually(
            lambda: [
                m for m in outbox(db, handle.id) if m.idempotency_key.endswith("package/ready")
            ]
        )
        assert ready.to == facts.owner_csm and record.html_path in ready.body
        # The CSM's notification and the workflow's details link to the brief's URL
        # under CSOPS_ARTIFACT_URL (the path kept for scripts).
        stored = await handle.query(RenewalPackageWorkflow.renewal_artifact)
        relative = Path(record.html_path).relative_to(load_settings().artifact_dir.resolve())
        assert stored.url == f"{load_settings().artifact_url}/{relative.as_posix()}"
        assert f"Open the brief: {stored.url}" in ready.body
        assert f"[Open the renewal brief]({stored.url})" in await current_details(handle)

        await decide(
            handle,
            request_id=pricing.request_id,
            decision="approve",
            approver=facts.manager,
            note="hold price",
        )
        assert [r.kind for r in await wait_for_requests(handle)] == ["task"]  # still open
        await decide(
            handle, request_id=signing.request_id, decision="done", approver=facts.owner_csm
        )
        result: RenewalPackageResult = await handle.result()
        await replay_and_maybe_record(handle, "renewal_package_with_summary")

    assert (result.pricing_status, result.signing_task_status) == ("approved", "done")
    events = audit(db, handle.id)
    [approved] = [e for e in events if e.action == "renewal_pricing" and e.outcome == "approved"]
    [summary] = [e for e in events if e.action == "renewal_summary"]
    assert (summary.outcome, summary.engine, summary.model) == (
        "drafted",
        "offline",
        "offline-rules-v1",
    )
    assert (approved.actor, approved.autonomy) == (facts.manager, "copilot")
    # The agent sent nothing to the customer and signed nothing.
    assert all(m.audience == "internal" for m in outbox(db, handle.id))
    assert not [
        e
        for e in events
        if e.action == "sign_renewal" and e.actor == "agent" and e.outcome not in ("requested",)
    ]


async def test_a_second_package_for_the_same_renewal_starts_nothing(dev_env, db, run_worker):
    book(db, 12, seed=8)
    account_id = pick(db, [])
    with session(db) as s:
        facts = account_facts(s, account_id)
    async with run_worker(dev_env) as tq:
        first = await start_renewal_package(dev_env.client, tq, facts)
        again = await start_renewal_package(dev_env.client, tq, facts)
        assert first.started and not again.started
        await first.handle.terminate("test done")


async def test_sweep_starts_exactly_the_in_window_renewals_once(dev_env, db, run_worker):
    book(db, 300, seed=21)
    window_end = today() + 45 * DAY  # policies/renewal.yaml window_days
    with session(db) as s:
        expected = set(
            s.exec(
                select(Account.id).where(
                    Account.renewal_date >= today(), Account.renewal_date <= window_end
                )
            )
        )
    assert 10 < len(expected) < 300
    async with run_worker(dev_env) as tq:
        first: SweepReport = await dev_env.client.execute_workflow(
            RenewalSweepWorkflow.run, SweepInput(), id=f"sweep-{tq}", task_queue=tq
        )
        assert (first.counts.started, first.counts.skipped, first.counts.failed) == (
            len(expected),
            0,
            0,
        )

        async def listed() -> list[str]:
            return [
                w.id
                async for w in dev_env.client.list_workflows(
                    f"WorkflowType = 'RenewalPackageWorkflow' AND TaskQueue = '{tq}'"
                )
            ]

        # Visibility lags a little behind the starts.
        started = await eventually(listed, holds=lambda ids: len(ids) == len(expected), every_s=0.2)
        assert {w.split("/")[1] for w in started} == expected

        second: SweepReport = await dev_env.client.execute_workflow(
            RenewalSweepWorkflow.run, SweepInput(), id=f"sweep-again-{tq}", task_queue=tq
        )
        assert (second.counts.started, second.counts.skipped) == (0, len(expected))
        for workflow_id in started:
            await dev_env.client.get_workflow_handle(workflow_id).terminate("test done")


async def test_the_installed_schedule_runs_the_sweep(dev_env, db, run_worker):
    book(db, 30, seed=3)
    async with run_worker(dev_env) as tq:
        assert await install(dev_env.client, tq, "0 2 * * *", "UTC", 12) == "created"
        assert await install(dev_env.client, tq, "30 3 * * *", "Europe/Berlin", 12) == "updated"
        schedule = dev_env.client.get_schedule_handle(SCHEDULE_ID)
        try:
            desc = await schedule.describe()
            assert desc.schedule.spec.time_zone_name == "Europe/Berlin"
            await schedule.trigger()

            async def sweep_done():
                info = (await schedule.describe()).info
                return info.recent_actions and not info.running_actions and info.recent_actions

            recent = await eventually(
                sweep_done, timeout_s=30, every_s=0.2, what="the triggered sweep finished"
            )
            run = recent[-1].action
            report: SweepReport = await dev_env.client.get_workflow_handle(
                run.workflow_id,
                run_id=run.first_execution_run_id,
                result_type=SweepReport,
            ).result()
            assert report.as_of == today() and report.counts.failed == 0
            with session(db) as s:
                in_window = s.exec(
                    select(func.count())
                    .select_from(Account)
                    .where(
                        Account.renewal_date >= today(), Account.renewal_date <= today() + 45 * DAY
                    )
                ).one()
            assert report.counts.started + report.counts.skipped == in_window
            assert json.loads(report.model_dump_json())["counts"]["started"] == in_window
        finally:
            await schedule.delete()
        async for w in dev_env.client.list_workflows(
            f"WorkflowType = 'RenewalPackageWorkflow' AND TaskQueue = '{tq}' "
            "AND ExecutionStatus = 'Running'"
        ):
            await dev_env.client.get_workflow_handle(w.id).terminate("test done")
        assert renewal_id("acc-1", date(2027, 1, 2)) == "renewal/acc-1/2027-01-02"


async def test_a_request_for_non_standard_terms_becomes_an_off_limits_human_task(
    dev_env, db, run_worker
):
    from context.tables import CrmNote

    book(db, 15, seed=4)
    account_id = pick(db, [])
    with session(db) as s:
        s.add(
            CrmNote(
                account_id=account_id,
                at=datetime.now(UTC) - 3 * DAY,
                author="sam",
                text="Their GC wants a liability cap and will send a redline of the MSA.",
            )
        )
        s.commit()
        facts = account_facts(s, account_id)
    async with run_worker(dev_env) as tq:
        handle = (await start_renewal_package(dev_env.client, tq, facts)).handle
        requests = {r.action: r for r in await wait_for_requests(handle, count=3)}
        terms = requests["non_standard_terms"]
        assert (terms.kind, terms.autonomy.value) == ("task", "off_limits")
        assert '"liability cap"' in terms.draft and terms.draft.startswith("CRM note ")
        with session(db) as s:
            [record] = s.exec(select(RenewalPackageRecord)).all()
        assert "non-standard terms requested (CRM note" in record.markdown
        for r in requests.values():
            await decide(
                handle,
                request_id=r.request_id,
                decision="done" if r.kind == "task" else "reject",
                approver=facts.owner_csm,
            )
        result: RenewalPackageResult = await handle.result()
        await replay_and_maybe_record(handle, "renewal_package_terms")
    assert result.pricing_status == "rejected"
    assert all(m.audience == "internal" for m in outbox(db, handle.id))
    assert not [
        e
        for e in audit(db, handle.id)
        if e.action == "non_standard_terms"
        and e.actor == "agent"
        and e.outcome not in ("requested",)
    ]


async def test_a_sweep_batch_keeps_few_packages_being_assembled_at_once(db, monkeypatch):
    """Without a dev server: the starter and the stored records are stand-ins."""
    import types

    from temporalio.testing import ActivityEnvironment

    import activities.renewal_sweep as sweep
    from adapters.launcher import Launch
    from contracts.sweep import SweepBatchInput

    book(db, 120, seed=21)
    monkeypatch.setattr(sweep, "IN_FLIGHT", 3)
    monkeypatch.setattr(sweep, "POLL_S", 0.001)
    started: list[str] = []
    stored: set[str] = set()
    most = 0

    async def start(task_queue: str, facts) -> Launch:
        nonlocal most
        workflow_id = renewal_id(facts.account_id, facts.renewal_date)
        started.append(workflow_id)
        most = max(most, len(started) - len(stored))
        await asyncio.sleep(0)  # other starts run meanwhile, as over the network
        return Launch(types.SimpleNamespace(id=workflow_id), True)  # type: ignore[arg-type]

    def store_one(workflow_ids: list[str]) -> set[str]:
        assert workflow_ids
        stored.add(workflow_ids[0])  # one package is stored per look
        return {workflow_ids[0]}

    activities = sweep.SweepActivities(db, start)
    monkeypatch.setattr(activities, "_stored", store_one)
    result = await ActivityEnvironment().run(
        activities.start_renewal_batch,
        SweepBatchInput(
            as_of=today(),
            window_days=45,
            after_account_id=None,
            batch_size=500,
            concurrency=20,
            task_queue="q",
        ),  # fmt: skip
    )
    assert result.counts.started == len(started) > 3 * 2
    assert most == 3  # the next start waits until one of the three is stored
