"""The standing health score, recorded nightly.

HealthSweepWorkflow (started by the Schedule `health-sweep-nightly`): every
account's health for the day, in batches of accounts (one activity each),
continuing as new on very large books. Safe to run twice: a day's score per
account is replaced, never added twice.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.health import HealthActivities
    from contracts import names
    from contracts.health import (
        HealthBatchInput,
        HealthCounts,
        HealthSweepInput,
        HealthSweepReport,
    )

from workflows import reads
from workflows.options import run_is_full
from workflows.required import required


@workflow.defn(name=names.HEALTH_SWEEP_WORKFLOW)
class HealthSweepWorkflow:
    """Nightly: every account's health score for the day; counts per band."""

    def __init__(self) -> None:
        self.totals = HealthCounts()

    @workflow.run
    async def run(self, inp: HealthSweepInput) -> HealthSweepReport:
        policies = await reads.policy_snapshot()
        sweep = required(policies.health, "the health policy").sweep
        as_of = inp.as_of or workflow.now().date()
        self.totals = inp.totals
        cursor, batches = inp.after_account_id, inp.batches_done
        while True:
            self._show(as_of, batches)
            batch = await workflow.execute_activity_method(
                HealthActivities.record_health_batch,
                HealthBatchInput(as_of=as_of, after_account_id=cursor, batch_size=sweep.batch_size),
                summary=f"batch {batches + 1}: accounts after {cursor or 'the first'}",
                start_to_close_timeout=timedelta(minutes=20),
                heartbeat_timeout=timedelta(minutes=2),
            )
            self.totals = self.totals.plus(batch.counts)
            cursor, batches = batch.last_account_id, batches + 1
            if batch.done:
                break
            if run_is_full(batches - inp.batches_done, sweep.batches_per_run):
                workflow.continue_as_new(
                    HealthSweepInput(
                        as_of=as_of,
                        after_account_id=cursor,
                        totals=self.totals,
                        batches_done=batches,
                    )
                )
        self._show(as_of, batches, done=True)
        return HealthSweepReport(as_of=as_of, counts=self.totals, batches=batches)

    def _show(self, as_of, batches: int, done: bool = False) -> None:
        t = self.totals
        bands = ", ".join(f"{n} {band}" for band, n in sorted(t.bands.items())) or "none yet"
        workflow.set_current_details(
            f"## Health sweep for {as_of}\n"
            f"{'Done' if done else 'Running'} after {batches} batch(es): "
            f"**{t.scored} scored** ({bands}), {t.failed} failed"
            + ("".join(f"\n- {f}" for f in t.failures[:5]) if t.failures else "")
        )
