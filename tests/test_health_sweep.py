"""The nightly health sweep on a real dev server: every account of a seeded book
scored for the day in batches, continuing as new; run twice, nothing doubles; the
Schedule `health-sweep-nightly` runs it and says what it did."""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from support.renewal import q
from support.temporal import replay_and_maybe_record
from temporalio.api.enums.v1 import EventType

from contracts.health import HealthSweepInput, HealthSweepReport
from csops.demo_book import generate_book
from csops.schedules import HEALTH_SCHEDULE_ID, first_run_report, install_health
from policies.loader import load_policies
from workflows.health import HealthSweepWorkflow

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 23
SHIPPED_SWEEP = "  batch_size: 200\n  batches_per_run: 25\n"


def stored_bands(db, day) -> Counter:
    rows = q(db, "SELECT band, COUNT(*) FROM healthscore WHERE as_of = :d GROUP BY band", d=day)
    return Counter(dict(rows))


async def test_the_sweep_scores_every_account_once_per_day_in_batches(
    tmp_path, dev_env, db, run_worker
):
    today = datetime.now(UTC).date()
    generate_book(db, accounts=ACCOUNTS, seed=5, as_of=today)
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies, ignore=shutil.ignore_patterns("*.py", "__*"))
    health = policies / "health.yaml"
    assert SHIPPED_SWEEP in health.read_text()
    # Five accounts a batch, two batches a run: 23 accounts make 5 batches in 3 runs.
    health.write_text(
        health.read_text().replace(SHIPPED_SWEEP, "  batch_size: 5\n  batches_per_run: 2\n")
    )
    tag = uuid.uuid4().hex[:6]
    async with run_worker(dev_env, settings={"policy_dir": policies}) as tq:
        reports = []
        for n in (1, 2):  # the second run of the day changes nothing
            handle = await dev_env.client.start_workflow(
                HealthSweepWorkflow.run,
                HealthSweepInput(),
                id=f"health-sweep-{tag}-{n}",
                task_queue=tq,
            )
            reports.append(await handle.result())
            first_run = dev_env.client.get_workflow_handle(
                handle.id, run_id=handle.first_execution_run_id
            )
            events = [e async for e in first_run.fetch_history_events()]
            assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            assert (await dev_env.client.get_workflow_handle(handle.id).describe()).run_id != (
                handle.first_execution_run_id
            )
        await replay_and_maybe_record(handle, "health_sweep")

        # Through its Schedule, as the night runs it.
        await install_health(dev_env.client, tq, load_policies(policies).health.sweep)
        try:
            await dev_env.client.get_schedule_handle(HEALTH_SCHEDULE_ID).trigger()
            said = await first_run_report(dev_env.client, HEALTH_SCHEDULE_ID, 60)
        finally:
            await dev_env.client.get_schedule_handle(HEALTH_SCHEDULE_ID).delete()

    bands = stored_bands(db, today)
    first, second = reports
    assert isinstance(first, HealthSweepReport)
    assert first.as_of == today and first.batches == 5
    assert first.counts.scored == sum(bands.values()) == ACCOUNTS
    assert first.counts.failed == 0 and Counter(first.counts.bands) == bands
    assert second.counts == first.counts  # the day's rows replaced, not added
    [(rows,)] = q(db, "SELECT COUNT(*) FROM healthscore")
    assert rows == ACCOUNTS
    listed = ", ".join(f"{n} {band}" for band, n in sorted(bands.items()))
    assert said.startswith("started health-sweep-") and said.endswith(
        f", which scored {ACCOUNTS} accounts for {today} ({listed})"
    )
