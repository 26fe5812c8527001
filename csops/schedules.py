"""csops' Temporal Schedules: the nightly renewal sweep (`renewal-sweep-nightly`)
and the morning digest of what waits for each CSM (`csm-digest-daily`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from contracts import names
from contracts.digest import DigestInput
from contracts.sweep import SweepInput

SCHEDULE_ID = names.RENEWAL_SWEEP_SCHEDULE
DIGEST_SCHEDULE_ID = names.CSM_DIGEST_SCHEDULE
DIGEST_CRON = "0 7 * * 1-5"  # weekday mornings


def sweep_schedule(task_queue: str, cron: str, timezone: str, catchup_hours: int) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            names.RENEWAL_SWEEP_WORKFLOW,
            SweepInput(),
            id=names.RENEWAL_SWEEP_RUN_PREFIX,  # the Schedule appends the scheduled time
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


def digest_schedule(task_queue: str, cron: str, timezone: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            names.CSM_DIGEST_WORKFLOW,
            DigestInput(),
            id=names.CSM_DIGEST_RUN_PREFIX,
            task_queue=task_queue,
            static_summary="Morning digest: what waits for each CSM, through the outbox",
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=timezone),
        # A digest is only worth sending on its own morning.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=3)
        ),
    )


async def put_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the Schedule, or update it in place; returns "created" or "updated"."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        async def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
        return "updated"


async def install(
    client: Client, task_queue: str, cron: str, timezone: str, catchup_hours: int
) -> str:
    """The renewal sweep Schedule; returns "created" or "updated"."""
    return await put_schedule(
        client, SCHEDULE_ID, sweep_schedule(task_queue, cron, timezone, catchup_hours)
    )


async def install_digest(
    client: Client, task_queue: str, cron: str = DIGEST_CRON, timezone: str = "UTC"
) -> str:
    return await put_schedule(
        client, DIGEST_SCHEDULE_ID, digest_schedule(task_queue, cron, timezone)
    )


async def show(client: Client, schedule_id: str = SCHEDULE_ID) -> dict:
    desc = await client.get_schedule_handle(schedule_id).describe()
    info, spec = desc.info, desc.schedule.spec
    return {
        "schedule_id": schedule_id,
        # The server keeps a cron as structured calendars: show them as cron again.
        "cron": list(spec.cron_expressions) or [calendar_as_cron(c) for c in spec.calendars],
        "timezone": spec.time_zone_name,
        "paused": desc.schedule.state.paused,
        "next_runs": [t.isoformat() for t in info.next_action_times[:3]],
        # Starting a workflow is the only kind of action there is: the checks narrow the type.
        "recent_runs": [
            {"at": a.started_at.isoformat(), "workflow_id": a.action.workflow_id}
            for a in info.recent_actions[-5:]
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
        ],
        "running": [
            r.workflow_id
            for r in info.running_actions
            if isinstance(r, ScheduleActionExecutionStartWorkflow)
        ],
    }
