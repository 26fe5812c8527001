"""`csops`: run the server and worker, seed the book, submit tickets, and
decide what waits for a human. Every command that prints data takes --json."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from csops.config import Settings, connect

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DATA_DIR = Path(".csops")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"csops: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def emit(data, as_json: bool, human) -> None:
    """Print `data` as JSON, or call `human()` to print it for people."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


async def _client(settings: Settings):
    try:
        return await connect(settings)
    except (RuntimeError, RPCError) as err:
        fail(
            f"cannot reach Temporal at {settings.temporal_address} ({err}); "
            "is `csops server` (or `make up`) running?"
        )


def _engine():
    from context.db import make_engine

    return make_engine()


def _check_policies() -> str:
    from policies.loader import PolicyError, load_policies

    try:
        return load_policies().version
    except PolicyError as err:
        fail(str(err), code=2)


# ---------------------------------------------------------------- runtime


@app.command()
def server(
    port: int = typer.Option(7233, help="gRPC port."),
    ui_port: int = typer.Option(8233, help="Web UI port."),
) -> None:
    """Run the Temporal dev server (SQLite under .csops/, UI, search attributes)."""
    from csops.devserver import dev_server_command

    settings = Settings()
    cmd = dev_server_command(DATA_DIR, port, ui_port, settings.namespace)
    typer.echo(f"Temporal dev server on localhost:{port}, UI http://localhost:{ui_port}")
    raise typer.Exit(subprocess.call(cmd))


@app.command()
def worker() -> None:
    """Run the worker: every workflow and activity, plus outbox delivery."""
    from worker import run_worker

    _check_policies()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run_worker())  # SIGINT/SIGTERM stop it gracefully


@app.command()
def seed(
    accounts: int = typer.Option(60, min=1, help="How many accounts the book has."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same book."),
    as_of: str | None = typer.Option(None, help="Book date YYYY-MM-DD (default today)."),
    reset: bool = typer.Option(False, "--reset", help="Replace an existing book."),
    as_json: JsonOpt = False,
) -> None:
    """Generate a reproducible demo book into the context database."""
    from context.demo_book import BookExistsError, generate_book

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)", code=2)
    try:
        summary = generate_book(_engine(), accounts=accounts, seed=seed, as_of=day, reset=reset)
    except BookExistsError as err:
        fail(str(err), code=2)
    emit(
        summary.model_dump(mode="json"),
        as_json,
        lambda: typer.echo(
            f"seeded {summary.accounts} accounts ({summary.by_segment}), "
            f"{summary.usage_rows} usage rows, {summary.tickets} tickets, "
            f"{summary.contacts} contacts as of {summary.as_of} (seed {summary.seed})"
        ),
    )


# ---------------------------------------------------------------- tickets


@app.command()
def ticket(
    account: str = typer.Option(..., "--account", help="Account id, e.g. acc-0007."),
    subject: str = typer.Option(..., "--subject"),
    body: str = typer.Option(..., "--body"),
    requester: str | None = typer.Option(None, "--from", help="Requester email."),
    ticket_id: str | None = typer.Option(None, "--id", help="Ticket id (default: T-<date>-<random>)."),
    as_json: JsonOpt = False,
) -> None:
    """Submit a support ticket and start its escalation workflow."""
    from context.queries import NotFound
    from csops.tickets import new_ticket_id, submit_ticket

    settings, engine = Settings(), _engine()

    async def go():
        client = await _client(settings)
        tid = ticket_id or new_ticket_id()
        try:
            launch = await submit_ticket(engine, client, settings.task_queue, tid, account,
                                         subject, body, requester)
        except NotFound as err:
            fail(str(err), code=2)
        return tid, launch

    tid, launch = asyncio.run(go())
    data = {"ticket_id": tid, "workflow_id": launch.handle.id, "started": launch.started}
    emit(data, as_json, lambda: typer.echo(
        f"{'started' if launch.started else 'already routed'} {launch.handle.id}"
        f"  ({settings.ui_url}/namespaces/{settings.namespace}/workflows)"
    ))


@app.command()
def onboard(
    accounts: Annotated[list[str] | None, typer.Argument(help="Account ids.")] = None,
    all_new: bool = typer.Option(False, "--all-new", help="Every account in stage `new`."),
    as_json: JsonOpt = False,
) -> None:
    """Start the 30-day onboarding for accounts; one already running is reported, not restarted."""
    from csops.onboard import launch_onboarding, new_accounts

    engine, settings = _engine(), Settings()
    ids = list(dict.fromkeys([*(accounts or []), *(new_accounts(engine) if all_new else [])]))
    if not ids:
        fail("name accounts or pass --all-new" + (" (no account is in stage new)"
                                                   if all_new else ""), code=2)

    def progress(done: int, total: int, r) -> None:
        # Progress goes to stderr so --json output stays clean.
        typer.echo(f"[{done}/{total}] {r.workflow_id}: {r.outcome}"
                   + (f" ({r.error})" if r.error else ""), err=True)

    async def go():
        return await launch_onboarding(engine, await _client(settings), settings.task_queue,
                                       ids, progress)

    results = asyncio.run(go())
    counts = {k: sum(r.outcome == k for r in results)
              for k in ("started", "already running", "failed")}
    emit({"summary": counts, "launches": [r.model_dump() for r in results]}, as_json,
         lambda: typer.echo(", ".join(f"{n} {k}" for k, n in counts.items())))
    if counts["failed"]:
        raise typer.Exit(1)


# ---------------------------------------------------------------- humans


@app.command()
def inbox(
    approver: str | None = typer.Option(None, "--approver", help="Only what EMAIL may decide."),
    account: str | None = typer.Option(None, "--account", help="Only this account."),
    as_json: JsonOpt = False,
) -> None:
    """Every pending human request across running workflows, oldest first."""
    from csops.inbox import collect_inbox, inbox_query

    settings = Settings()

    async def go():
        return await collect_inbox(await _client(settings), approver, account)

    items = asyncio.run(go())

    def human():
        if not items:
            typer.echo("Nothing waits for a human" + (f" ({approver})" if approver else "") + ".")
            return
        for i in items:
            r = i.request
            typer.echo(
                f"{i.workflow_id}  {r.request_id}  [{r.kind}/{r.autonomy.value}]  "
                f"account {i.account_id}  age {i.age_minutes:.0f} min  "
                f"due {r.due_at:%Y-%m-%d %H:%M} UTC"
            )
            typer.echo(f"    {r.title}")
            typer.echo(f"    may decide: {', '.join(r.eligible_approvers)}")
            typer.echo(f"    signal payload: {json.dumps(r.signal_payload)}")
        typer.echo(f"\n{len(items)} waiting. UI filter: {inbox_query(approver, account)}")

    emit([i.model_dump(mode="json") for i in items], as_json, human)


@app.command()
def decide(
    workflow_id: str,
    request_id: str,
    decision: str = typer.Option(..., "--decision", help="approve | reject | edit | ack | done"),
    approver: str = typer.Option(..., "--approver", help="Your email."),
    text: str | None = typer.Option(None, "--text", help="The edited draft (edit only)."),
    note: str | None = typer.Option(None, "--note"),
    as_json: JsonOpt = False,
) -> None:
    """Decide one request through the `decide` update; a refusal says why."""
    from pydantic import ValidationError

    from csops.inbox import DecisionRefused, send_decision
    from csops.models import DecideInput

    try:
        payload = DecideInput(request_id=request_id, decision=decision, approver=approver,
                              text=text, note=note)
    except ValidationError as err:
        fail("; ".join(e["msg"] for e in err.errors()), code=2)
    settings = Settings()

    async def go():
        return await send_decision(await _client(settings), workflow_id, payload)

    try:
        result = asyncio.run(go())
    except DecisionRefused as err:
        fail(f"refused: {err}", code=3)
    emit(result.model_dump(mode="json"), as_json,
         lambda: typer.echo(f"{workflow_id} {result.request_id}: {result.status} by {approver}"))


@app.command()
def status(workflow_id: str, as_json: JsonOpt = False) -> None:
    """A workflow's state, current details and every human request."""
    from temporalio.api.sdk.v1 import WorkflowMetadata

    settings = Settings()

    async def go():
        handle = (await _client(settings)).get_workflow_handle(workflow_id)
        try:
            desc = await handle.describe()
        except RPCError as err:
            fail(f"{workflow_id}: {err.message}", code=2)
        history, details = None, ""
        try:
            history = await handle.query("human_history", result_type=dict)
            meta = await handle.query("__temporal_workflow_metadata",
                                      result_type=WorkflowMetadata)
            details = meta.current_details
        except (RPCError, WorkflowQueryFailedError) as err:
            # No worker answering (e.g. stopped): show what the server knows.
            details = f"(no answer from a worker: {err})"
        return desc, history, details

    desc, history, details = asyncio.run(go())
    data = {
        "workflow_id": workflow_id,
        "type": desc.workflow_type,
        "status": desc.status.name if desc.status else None,
        "started": desc.start_time,
        "closed": desc.close_time,
        "search_attributes": {p.key.name: p.value for p in desc.typed_search_attributes},
        "current_details": details,
        "human": history,
    }

    def human():
        typer.echo(f"{workflow_id}  {data['type']}  {data['status']}")
        typer.echo(details or "(no current details: is a worker running?)")

    emit(data, as_json, human)


# ---------------------------------------------------------------- everything


@app.command()
def up(
    accounts: int = typer.Option(60, help="Demo book size (first run only)."),
    port: int = typer.Option(7233),
    ui_port: int = typer.Option(8233),
) -> None:
    """Server + UI + worker + demo data + demo tickets, in the foreground. Ctrl-C stops all."""
    from csops.up import run_up

    _check_policies()
    raise typer.Exit(run_up(DATA_DIR, accounts, port, ui_port))


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    # Skip interpreter finalization: the Temporal client's Rust threads can call into
    # a finalizing interpreter and abort a command that already succeeded
    # (temporalio/sdk-python#300). Everything worth keeping is flushed first.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
