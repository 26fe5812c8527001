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


def _field(ranges) -> str:
    parts = []
    for r in ranges:
        text = str(r.start) if r.end in (0, r.start) else f"{r.start}-{r.end}"
        parts.append(text + (f"/{r.step}" if r.step > 1 else ""))
    return ",".join(parts) or "*"


def calendar_as_cron(c) -> str:
    """`minute hour day-of-month month day-of-week`, full ranges shown as `*`."""
    full = {"day_of_month": "1-31", "month": "1-12", "day_of_week": "0-6"}
    fields = []
    for name in ("minute", "hour", "day_of_month", "month", "day_of_week"):
        text = _field(getattr(c, name))
        fields.append("*" if text == full.get(name) else text)
    return " ".join(fields)


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
        # The server keeps a cron as structured calendars: show them as cron again.
        "cron": list(spec.cron_expressions) or [calendar_as_cron(c) for c in spec.calendars],
        "timezone": spec.time_zone_name,
        "paused": desc.schedule.state.paused,
        "next_runs": [t.isoformat() for t in info.next_action_times[:3]],
        "recent_runs": [
            {"at": a.started_at.isoformat(), "workflow_id": a.action.workflow_id}
            for a in info.recent_actions[-5:]
        ],
        "running": [r.workflow_id for r in info.running_actions],
    }
