"""csops' Temporal Schedules: the nightly renewal sweep (`renewal-sweep-nightly`),
the morning digest of what waits for each CSM (`csm-digest-daily`), the nightly
health sweep (`health-sweep-nightly`) and the weekly health digest per CSM
(`health-digest-weekly`)."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from cron_descriptor import ExpressionDescriptor, Options
from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.service import RPCError, RPCStatusCode

from contracts import names
from contracts.digest import DigestInput, DigestResult
from contracts.health import HealthSweepInput, HealthSweepReport
from contracts.health_digest import HealthDigestInput, HealthDigestResult
from contracts.sweep import SweepInput, SweepReport
from policies.model import HealthDigest, HealthSweep

SCHEDULE_ID = names.RENEWAL_SWEEP_SCHEDULE
DIGEST_SCHEDULE_ID = names.CSM_DIGEST_SCHEDULE
HEALTH_SCHEDULE_ID = names.HEALTH_SWEEP_SCHEDULE
HEALTH_DIGEST_SCHEDULE_ID = names.HEALTH_DIGEST_SCHEDULE
# Every Schedule csops installs, in the order `schedule show` lists them.
ALL_SCHEDULE_IDS = (SCHEDULE_ID, DIGEST_SCHEDULE_ID, HEALTH_SCHEDULE_ID, HEALTH_DIGEST_SCHEDULE_ID)
DIGEST_CRON = "0 7 * * 1-5"  # weekday mornings


def _schedule(
    workflow: str,
    inp: Any,
    run_prefix: str,
    summary: str,
    task_queue: str,
    cron: str,
    timezone: str,
    catchup_hours: float,
) -> Schedule:
    """A Schedule that starts `workflow` at `cron`; a run still going when the next
    is due means the next is skipped, never two at once."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow,
            inp,
            id=run_prefix,  # the Schedule appends the scheduled time
            task_queue=task_queue,
            static_summary=summary,
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=timezone),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=catchup_hours)
        ),
    )


def sweep_schedule(task_queue: str, cron: str, timezone: str, catchup_hours: int) -> Schedule:
    return _schedule(
        names.RENEWAL_SWEEP_WORKFLOW,
        SweepInput(),
        names.RENEWAL_SWEEP_RUN_PREFIX,
        "Nightly renewal sweep: start the pre-call packages entering the window",
        task_queue,
        cron,
        timezone,
        catchup_hours,
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
    return _schedule(
        names.CSM_DIGEST_WORKFLOW,
        DigestInput(),
        names.CSM_DIGEST_RUN_PREFIX,
        "Morning digest: what waits for each CSM, through the outbox",
        task_queue,
        cron,
        timezone,
        3,  # a digest is only worth sending on its own morning
    )


def health_schedule(task_queue: str, sweep: HealthSweep) -> Schedule:
    return _schedule(
        names.HEALTH_SWEEP_WORKFLOW,
        HealthSweepInput(),
        names.HEALTH_SWEEP_RUN_PREFIX,
        "Nightly health sweep: every account's health score for the day",
        task_queue,
        sweep.cron,
        sweep.timezone,
        sweep.catchup_window_hours,
    )


def health_digest_schedule(task_queue: str, digest: HealthDigest) -> Schedule:
    return _schedule(
        names.HEALTH_DIGEST_WORKFLOW,
        HealthDigestInput(),
        names.HEALTH_DIGEST_RUN_PREFIX,
        "Weekly health digest: each CSM's book, the week's risks and plays, what waits",
        task_queue,
        digest.cron,
        digest.timezone,
        digest.catchup_window_hours,
    )


# What `put_schedule` did to a Schedule already there whose times were kept.
TIMES_KEPT = "updated, times kept"


async def put_schedule(
    client: Client, schedule_id: str, schedule: Schedule, keep_times: bool = False
) -> str:
    """Create the Schedule, or update it in place; returns "created", "updated" or,
    with `keep_times`, TIMES_KEPT: the installed one keeps its cron, time zone and
    paused state (a user may have changed them in the UI or with the CLI), only what
    it starts is refreshed."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        async def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
            if not keep_times:
                return ScheduleUpdate(schedule=schedule)
            installed = current.description.schedule
            return ScheduleUpdate(
                schedule=dataclasses.replace(schedule, spec=installed.spec, state=installed.state)
            )

        await client.get_schedule_handle(schedule_id).update(replace)
        return TIMES_KEPT if keep_times else "updated"


async def install(
    client: Client,
    task_queue: str,
    cron: str,
    timezone: str,
    catchup_hours: int,
    keep_times: bool = False,
) -> str:
    """The renewal sweep Schedule; returns what `put_schedule` did."""
    return await put_schedule(
        client, SCHEDULE_ID, sweep_schedule(task_queue, cron, timezone, catchup_hours), keep_times
    )


async def install_health(
    client: Client, task_queue: str, sweep: HealthSweep, keep_times: bool = False
) -> str:
    """The health sweep Schedule (`policies/health.yaml`'s `sweep`)."""
    return await put_schedule(
        client, HEALTH_SCHEDULE_ID, health_schedule(task_queue, sweep), keep_times
    )


async def install_health_digest(
    client: Client, task_queue: str, digest: HealthDigest, keep_times: bool = False
) -> str:
    """The weekly health digest Schedule (`policies/health.yaml`'s `digest`)."""
    return await put_schedule(
        client, HEALTH_DIGEST_SCHEDULE_ID, health_digest_schedule(task_queue, digest), keep_times
    )


async def install_digest(
    client: Client,
    task_queue: str,
    cron: str = DIGEST_CRON,
    timezone: str = "UTC",
    keep_times: bool = False,
) -> str:
    return await put_schedule(
        client, DIGEST_SCHEDULE_ID, digest_schedule(task_queue, cron, timezone), keep_times
    )


def spec_crons(spec: ScheduleSpec) -> list[str]:
    """A Schedule's cron expressions (the server keeps a cron as structured calendars)."""
    return list(spec.cron_expressions) or [calendar_as_cron(c) for c in spec.calendars]


async def installed_times(client: Client, schedule_id: str) -> tuple[str, str]:
    """When an installed Schedule runs: its cron expression(s) and time zone."""
    spec = (await client.get_schedule_handle(schedule_id).describe()).schedule.spec
    return "; ".join(spec_crons(spec)), spec.time_zone_name or "UTC"


def cron_in_words(cron: str) -> str:
    """`0 7 * * 1-5` as "At 07:00, Monday through Friday"."""
    options = Options()
    options.use_24hour_time_format = True
    return ExpressionDescriptor(cron, options).get_description()


# What each Schedule's workflow returns, to read its result back.
RESULT_TYPES: dict[str, type[BaseModel]] = {
    names.RENEWAL_SWEEP_WORKFLOW: SweepReport,
    names.CSM_DIGEST_WORKFLOW: DigestResult,
    names.HEALTH_SWEEP_WORKFLOW: HealthSweepReport,
    names.HEALTH_DIGEST_WORKFLOW: HealthDigestResult,
}


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def result_in_words(result: Any) -> str:
    """What a Schedule's run did, as a person would say it."""
    if isinstance(result, SweepReport):
        c = result.counts
        text = (
            f"started {_plural(c.started, 'renewal package')} for renewals from "
            f"{result.as_of} to {result.window_end}"
        )
        if c.skipped:
            text += f"; {c.skipped:,} already assembled or running"
        if c.failed:
            text += f"; {c.failed:,} failed" + (f" (first: {c.failures[0]})" if c.failures else "")
        return text
    if isinstance(result, HealthSweepReport):
        h = result.counts
        bands = ", ".join(f"{n:,} {band}" for band, n in sorted(h.bands.items()))
        text = f"scored {_plural(h.scored, 'account')} for {result.as_of}" + (
            f" ({bands})" if bands else ""
        )
        if h.failed:
            text += f"; {h.failed:,} failed" + (f" (first: {h.failures[0]})" if h.failures else "")
        return text
    if isinstance(result, DigestResult):
        text = (
            f"sent {_plural(result.recipients, 'digest')} covering "
            f"{_plural(result.requests, 'waiting request')}"
        )
        if result.duplicates:
            text += f" ({result.duplicates:,} already sent that day)"
        return text
    if isinstance(result, HealthDigestResult):
        text = (
            f"sent {_plural(result.recipients, 'health digest')} for {result.week} covering "
            f"{_plural(result.accounts, 'account')}, {_plural(result.events, 'risk or play', 'risks and plays')} "
            f"and {_plural(result.waiting, 'waiting request')}"
        )
        if result.duplicates:
            text += f" ({result.duplicates:,} already sent that week)"
        return text
    return str(result)


async def run_outcome(
    client: Client, workflow_id: str, workflow_type: str, wait_s: float = 0
) -> tuple[str, str | None]:
    """The status of a Schedule's run and, once it completed, what it did in words.

    Waits up to `wait_s` for it to finish; the status says if it is still running.
    """
    handle = client.get_workflow_handle(workflow_id, result_type=RESULT_TYPES.get(workflow_type))
    if wait_s > 0:
        # Still running when the wait is over is an answer too (the status says so).
        with suppress(TimeoutError, WorkflowFailureError):
            await asyncio.wait_for(handle.result(), wait_s)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return "GONE", "no longer kept by the server (past its retention)"
    status = desc.status or WorkflowExecutionStatus.RUNNING
    if status != WorkflowExecutionStatus.COMPLETED:
        return status.name, None
    return status.name, result_in_words(await handle.result())


def _started(action: ScheduleActionResult) -> str | None:
    """The workflow id a Schedule's action started (starting one is the only kind)."""
    run = action.action
    return run.workflow_id if isinstance(run, ScheduleActionExecutionStartWorkflow) else None


async def show(client: Client, schedule_id: str = SCHEDULE_ID) -> dict:
    """Everything `csops schedule show` prints: when it runs (cron and words), the next
    runs, paused or not, and the recent runs with their status and outcome."""
    desc = await client.get_schedule_handle(schedule_id).describe()
    info, spec = desc.info, desc.schedule.spec
    crons = spec_crons(spec)
    action = desc.schedule.action
    workflow_type = action.workflow if isinstance(action, ScheduleActionStartWorkflow) else ""
    recent = [(a, wid) for a in info.recent_actions[-5:] if (wid := _started(a))]
    outcomes = await asyncio.gather(
        *(run_outcome(client, wid, str(workflow_type)) for _, wid in recent)
    )
    return {
        "schedule_id": schedule_id,
        "workflow_type": workflow_type,
        "cron": crons,
        "when": [cron_in_words(c) for c in crons],
        "timezone": spec.time_zone_name,
        "paused": desc.schedule.state.paused,
        "note": desc.schedule.state.note,
        "next_runs": [t.isoformat() for t in info.next_action_times[:3]],
        "recent_runs": [
            {
                "at": a.started_at.isoformat(),
                "workflow_id": wid,
                "status": status,
                "outcome": outcome,
            }
            for (a, wid), (status, outcome) in zip(recent, outcomes, strict=True)
        ],
        "running": [
            r.workflow_id
            for r in info.running_actions
            if isinstance(r, ScheduleActionExecutionStartWorkflow)
        ],
    }


async def first_run_report(client: Client, schedule_id: str, wait_s: float) -> str:
    """What the Schedule's latest run started, in words, for `csops up`: waits up to
    `wait_s` for a just-triggered run to appear and finish, and says so if it has not."""
    handle = client.get_schedule_handle(schedule_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        desc = await handle.describe()
        latest = next((w for a in reversed(desc.info.recent_actions) if (w := _started(a))), None)
        if latest or loop.time() >= deadline:
            break
        await asyncio.sleep(0.2)  # a triggered run shows up a moment later
    if latest is None:
        upcoming = desc.info.next_action_times[:1]
        return "no run yet" + (f"; the first is due {_when(upcoming[0])}" if upcoming else "")
    action = desc.schedule.action
    workflow_type = action.workflow if isinstance(action, ScheduleActionStartWorkflow) else ""
    left = max(deadline - loop.time(), 0.1)
    status, outcome = await run_outcome(client, latest, str(workflow_type), wait_s=left)
    if outcome and status == "COMPLETED":
        return f"started {latest}, which {outcome}"
    if status == "RUNNING":
        return (
            f"started {latest}, still running after {wait_s:g} s "
            f"(follow it with `csops schedule show`)"
        )
    return f"started {latest}, which ended {status.lower()}" + (f": {outcome}" if outcome else "")


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def show_in_words(view: dict) -> list[str]:
    """`show`'s view for people: when it runs, next runs, paused or not, recent runs."""
    when = "; ".join(f"{w} ({c})" for w, c in zip(view["when"], view["cron"], strict=True))
    state = "paused" + (f": {view['note']}" if view["note"] else "") if view["paused"] else "active"
    lines = [f"{view['schedule_id']}: {when}, {view['timezone'] or 'UTC'}; {state}"]
    nexts = [_when(datetime.fromisoformat(t)) for t in view["next_runs"]]
    paused = " (none starts while paused)" if view["paused"] else ""
    lines.append(f"  next runs{paused}: {', '.join(nexts) or 'none'}")
    if not view["recent_runs"]:
        lines.append("  no runs yet")
    else:
        lines.append("  recent runs (oldest first):")
    for run in view["recent_runs"]:
        status = run["status"].lower().replace("_", " ")
        lines.append(
            f"    {_when(datetime.fromisoformat(run['at']))}  {run['workflow_id']}  {status}"
            + (f": {run['outcome']}" if run["outcome"] else "")
        )
    return lines
