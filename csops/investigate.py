"""`csops investigate` and `csops qbr`: start the investigation workflow, wait for
what it has to say, print it; read a stored investigation back."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from adapters.launcher import Launch, start_investigation
from context.db import session
from context.evidence import stored_row
from context.tables import Investigation
from contracts import names
from contracts.accounts import AccountFacts
from contracts.human import HumanRequestView
from contracts.investigation import InvestigationInput, InvestigationResult
from csops.waiting import poll

SECTION_TITLES = {
    "risk": "Where it is at risk, and why",
    "strength": "What is going well",
    "next_step": "What to do next",
}


def print_claims(claims: list[dict], dropped: list[dict], engine: str, note: str) -> None:
    """The claims by section, each with the evidence ids it cites; the dropped ones
    counted apart (never as fact)."""
    typer.echo(f"Engine: {engine}" + (f"\n{note}" if note else ""))
    for section, title in SECTION_TITLES.items():
        mine = [c for c in claims if c["section"] == section]
        typer.echo(f"\n{title}:")
        if not mine:
            typer.echo("  (nothing in the evidence)")
        for c in mine:
            star = "* " if c.get("matches_question") else "- "
            typer.echo(f"  {star}{c['text']}\n      evidence: {', '.join(c['evidence'])}")
    if dropped:
        typer.echo(f"\nDropped {len(dropped)} model claim(s), not shown as fact:")
        for d in dropped:
            typer.echo(f"  - {d['text']} ({d['reason']})")


async def investigation_result(
    client: Client,
    task_queue: str,
    account: AccountFacts,
    inp: InvestigationInput,
    workflow_id: str,
    wait_s: float,
) -> tuple[Launch, InvestigationResult]:
    """Start (or attach to) the investigation and wait for its result.

    Raises:
        TimeoutError: no result within `wait_s` (no worker running?).
    """
    launch = await start_investigation(client, task_queue, account, inp, workflow_id)
    return launch, await asyncio.wait_for(launch.handle.result(), wait_s)


async def _qbr_state(handle: WorkflowHandle) -> dict[str, Any] | None:
    """The QBR's open request once the draft waits for a human, or the result once
    the workflow is done; None before either."""
    try:
        described = await handle.describe()
        if described.status == WorkflowExecutionStatus.COMPLETED:
            result: InvestigationResult = await handle.result()
            return {"result": result}
        if described.status != WorkflowExecutionStatus.RUNNING:
            return {"closed": described.status.name if described.status else "unknown"}
        open_requests = await handle.query(
            names.HUMAN_REQUESTS_QUERY, result_type=list[HumanRequestView]
        )
    except RPCError:
        return None  # not picked up by a worker yet
    return {"request": open_requests[0]} if open_requests else None


async def qbr_state(handle: WorkflowHandle, wait_s: float) -> dict[str, Any] | None:
    return await poll(lambda: _qbr_state(handle), wait_s)


def stored_investigation(engine: Engine, workflow_id: str) -> dict[str, Any] | None:
    """A stored investigation as the CLI prints it (None when there is none)."""
    with session(engine) as s:
        row = stored_row(s, Investigation, workflow_id)
    if row is None:
        return None
    return {
        **row.model_dump(exclude={"id"}),
        "investigation_id": row.id,
        "dropped_count": len(row.dropped),
    }
