"""The nightly renewal sweep as a Temporal Schedule (`renewal-sweep-nightly`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from csops.models import SweepInput

SCHEDULE_ID = "renewal-sweep-nightly"


def sweep_schedule(task_queue: str, cron: str, timezone: str, catchup_hours: int) -> Schedule:
    from workflows.renewal import RenewalSweepWorkflow

    return Schedule(
        action=ScheduleActionStartWorkflow(
            RenewalSweepWorkflow.run,
            SweepInput(),
            id="renewal-sweep",  # the Schedule appends the scheduled time
            task_queue=task_queue,
            static_summary="Nightly renewal sweep: start the pre-call packages entering the window",
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=timezone),
        policy=SchedulePolicy(
            # A sweep still running when the next is due: skip, never two at once.
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(hours=catchup_hours),
        ),
    )


async def install(client: Client, task_queue: str, cron: str, timezone: str,
                  catchup_hours: int) -> str:
    """Create the Schedule, or update it in place; returns "created" or "updated"."""
    schedule = sweep_schedule(task_queue, cron, timezone, catchup_hours)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        async def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(replace)
        return "updated"


async def show(client: Client) -> dict:
    desc = await client.get_schedule_handle(SCHEDULE_ID).describe()
    info, spec = desc.info, desc.schedule.spec
    return {
        "schedule_id": SCHEDULE_ID,
        # The server may keep a cron as structured calendars.
        "cron": list(spec.cron_expressions) or [str(c) for c in spec.calendars],
        "timezone": spec.time_zone_name,
        "paused": desc.schedule.state.paused,
        "next_runs": [t.isoformat() for t in info.next_action_times[:3]],
        "recent_runs": [
            {"at": a.started_at.isoformat(), "workflow_id": a.action.workflow_id}
            for a in info.recent_actions[-5:]
        ],
        "running": [r.workflow_id for r in info.running_actions],
    }
