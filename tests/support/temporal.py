"""Workflows as the tests drive them: start, query, decide, replay."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from context.db import session
from context.tables import SupportTicket
from contracts.converter import DATA_CONVERTER
from contracts.human import DecideInput, DecideResult, HumanRequestView
from contracts.ids import escalation_id
from policies import evaluate
from policies.loader import load_policies
from support.polling import eventually

HISTORY_DIR = Path(__file__).parent.parent / "histories"
HISTORY_IDS = HISTORY_DIR / "workflow_ids.json"  # history file stem -> its workflow id


def new_ticket_id() -> str:
    """Ticket ids unique across the session's shared server (ids are business keys)."""
    return f"T-{uuid.uuid4().hex[:8]}"


def ticket_ids(sampled: int, unsampled: int, rate: float | None = None) -> list[str]:
    """Fresh ticket ids whose supervised replies the policy samples for review (the
    first `sampled`) and does not (the rest), at `rate` (default: the shipped
    policy's). The sample is drawn on the escalation's workflow id, so a test that
    must not see a review (or must see one) chooses its tickets instead of hoping."""
    rate = load_policies().autonomy.supervised_sample_rate if rate is None else rate
    chosen: dict[bool, list[str]] = {True: [], False: []}
    while len(chosen[True]) < sampled or len(chosen[False]) < unsampled:
        tid = new_ticket_id()
        chosen[evaluate.sampled_for_review(rate, escalation_id(tid))].append(tid)
    return chosen[True][:sampled] + chosen[False][:unsampled]


async def start_escalation(
    engine, client: Client, task_queue: str, ticket_id: str
) -> WorkflowHandle:
    """Start the escalation the way `csops ticket` does (same launch code)."""
    from adapters.launcher import start_escalation as launch
    from context.queries import account_facts

    with session(engine) as s:
        row = s.get(SupportTicket, ticket_id)
        account = account_facts(s, row.account_id)
    started = await launch(client, task_queue, ticket_id, row.subject, account)
    assert started.started, f"{ticket_id} was already running"
    return started.handle


async def start_onboarding(
    engine, client: Client, task_queue: str, account_id: str
) -> WorkflowHandle:
    """Start the account's 30-day plan the way `csops onboard` does (same launch code)."""
    from adapters.launcher import start_onboarding as launch

    return await _start_for_account(launch, engine, client, task_queue, account_id)


async def start_renewal_package(
    engine, client: Client, task_queue: str, account_id: str
) -> WorkflowHandle:
    """Start the account's renewal package the way `csops renewal` does."""
    from adapters.launcher import start_renewal_package as launch

    return await _start_for_account(launch, engine, client, task_queue, account_id)


async def _start_for_account(
    launch, engine, client: Client, task_queue: str, account_id: str
) -> WorkflowHandle:
    from context.queries import account_facts

    with session(engine) as s:
        facts = account_facts(s, account_id)
    started = await launch(client, task_queue, facts)
    assert started.started, f"{started.handle.id} was already running"
    return started.handle


async def onboarding_plan(handle: WorkflowHandle) -> dict:
    """Milestone id -> its state (the `onboarding_plan` query)."""
    from contracts.onboarding import MilestoneState

    states = await handle.query("onboarding_plan", result_type=list[MilestoneState])
    return {m.id: m for m in states}


async def human_requests(
    handle: WorkflowHandle, rpc_timeout: timedelta | None = None
) -> list[HumanRequestView]:
    """The open human requests (the `human_requests` query)."""
    return await handle.query(
        "human_requests", result_type=list[HumanRequestView], rpc_timeout=rpc_timeout
    )


async def human_history(handle: WorkflowHandle) -> dict:
    """Every request with its status, and the refused signals (`human_history`)."""
    return await handle.query("human_history", result_type=dict)


async def wait_for_requests(
    handle: WorkflowHandle, count: int = 1, timeout_s: float = 20
) -> list[HumanRequestView]:
    """Poll the `human_requests` query until `count` requests are open."""
    return await eventually(
        lambda: human_requests(handle),
        timeout_s,
        holds=lambda open_requests: len(open_requests) >= count,
        every_s=0.1,
        # Not started yet: the query has no worker answer so far.
        ignoring=(Exception,),
        what=f"{handle.id}: {count} open request(s)",
    )


async def refusal_reasons(handle: WorkflowHandle, n: int) -> list[str]:
    """Wait until `n` signals have been refused; the reasons of all refused so far."""
    history = await eventually(
        lambda: human_history(handle), holds=lambda h: len(h["refusals"]) >= n
    )
    return [r["reason"] for r in history["refusals"]]


async def decide(
    handle: WorkflowHandle, *, update_id: str | None = None, **payload
) -> DecideResult:
    """The `decide` update, as the CLI sends it; the same `update_id` sent again is
    the same update (the server answers it once)."""
    return await handle.execute_update(
        "decide", DecideInput(**payload), id=update_id, result_type=DecideResult
    )


async def workflow_task_failures(handle: WorkflowHandle) -> list:
    """The run's `WorkflowTaskFailed` events: a handler, a replay or the code itself
    failed a workflow task (a task that timed out on a dead worker is not one)."""
    return [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


def local_activity(event) -> str | None:
    """The activity type a local-activity marker event records (None for any other
    event): local activities have no events of their own, only this marker."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != "core_local_activity":
        return None
    return json.loads(marker.details["data"].payloads[0].data)["activity_type"]


async def current_details(handle: WorkflowHandle) -> str:
    """The Markdown the Temporal UI shows as the workflow's current details."""
    from temporalio.api.sdk.v1 import WorkflowMetadata

    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def replay_and_maybe_record(handle: WorkflowHandle, name: str) -> None:
    """Replay the finished run's history against today's workflow code; with
    CSOPS_RECORD_HISTORIES=1 also save it under tests/histories/ for the replay test."""
    from worker import INTERCEPTORS, STRICT_WORKFLOW_RUNNER, WORKFLOWS

    history = await handle.fetch_history()
    await Replayer(
        workflows=WORKFLOWS,
        interceptors=INTERCEPTORS,
        workflow_runner=STRICT_WORKFLOW_RUNNER,
        data_converter=DATA_CONVERTER,
    ).replay_workflow(history)
    if os.environ.get("CSOPS_RECORD_HISTORIES") == "1":
        # With CSOPS_HISTORY_TAG=T the recording is saved beside the older ones
        # (NAME.T.json), which keep proving that older runs still replay.
        tag = os.environ.get("CSOPS_HISTORY_TAG")
        HISTORY_DIR.mkdir(exist_ok=True)
        stem = f"{name}{'.' + tag if tag else ''}"
        (HISTORY_DIR / f"{stem}.json").write_text(history.to_json())
        # A replay must run under the original workflow id (workflows build message
        # keys from it); the history's JSON does not carry it.
        ids = json.loads(HISTORY_IDS.read_text()) if HISTORY_IDS.exists() else {}
        HISTORY_IDS.write_text(
            json.dumps({**ids, stem: handle.id}, indent=2, sort_keys=True) + "\n"
        )


async def copilot_reply_request(handle: WorkflowHandle) -> HumanRequestView:
    """The workflow's one open request, which must be a copilot approval of a reply."""
    [request] = await wait_for_requests(handle)
    kind = (request.kind, request.action, request.autonomy.value)
    assert kind == ("approval", "customer_reply", "copilot"), kind
    return request


async def temporal_cli(env, *args: str) -> str:
    """The real `temporal` CLI against the test's server, as an operator runs it;
    its output."""
    from csops.devserver import find_binary

    target = env.client.service_client.config.target_host
    proc = await asyncio.create_subprocess_exec(
        find_binary("temporal"), *args, "--address", target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, (out, err)
    return out.decode()
