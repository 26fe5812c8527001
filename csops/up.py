"""`csops up`: everything a new user needs, in the foreground.

Starts the Temporal dev server (unless one already answers), seeds the demo
book on first run, starts the worker, submits the demo tickets, and prints the
UI address and what waits for a human. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from adapters.settings import Settings

DEMO_CSM = "jane@acme.test"
# Hosts `up` may start a dev server on when TEMPORAL_ADDRESS does not answer.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
DEFAULT_UI_PORT = 8233
# How long `up` waits for the sweep's first run to report before saying it still runs.
FIRST_RUN_WAIT_S = 30.0
# The account watches' audit actions `up` counts (the Risk and Growth agents').
WATCH_ACTIONS = ("usage_anomaly_alert", "internal_ticket", "expansion_play")
# How a human request ends in the audit log (workflows/human.py `follow_request`; a
# superseded approval was approved first, so it is counted once).
CLOSED_REQUEST_OUTCOMES = ("approved", "edited", "rejected", "expired", "withdrawn")


def _say(text: str = "", **style) -> None:
    typer.secho(text, **style)


def _start_worker(data_dir: Path, address: str, env: dict[str, str]) -> subprocess.Popen:
    log = open(data_dir / "worker.log", "ab")  # noqa: SIM115 (owned by the child)
    return subprocess.Popen(
        [sys.executable, "-m", "csops.cli", "worker"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TEMPORAL_ADDRESS": address, **env},
        start_new_session=True,  # Ctrl-C reaches `up` alone; it stops children in order
    )


class UpError(Exception):
    """`up` cannot go on. Meant for a human, in one line."""


async def _prepare(
    data_dir: Path,
    accounts: int,
    settings: Settings,
    port: int | None,
    ui_port: int | None,
    codec_port: int,
    children: list[subprocess.Popen],
) -> None:
    from adapters.inbox import collect_inbox, inbox_query
    from adapters.temporal_client import Access, wait_until_reachable
    from context.db import make_engine
    from csops.demo_book import book_exists, generate_book
    from csops.devserver import ensure_search_attributes, start_dev_server
    from csops.tickets import DEMO_TICKETS, pick_account, submit_ticket

    # --port, else TEMPORAL_ADDRESS (localhost:7233 by default).
    address = f"localhost:{port}" if port else settings.temporal_address
    host, _, port_text = address.rpartition(":")
    ui = f"http://localhost:{ui_port}" if ui_port else settings.ui_url
    access = Access.from_settings(settings)
    try:
        client = await wait_until_reachable(
            address, settings.namespace, settings.codec_keys, timeout_s=1, access=access
        )
        # Used only with csops' search attributes: missing ones are added here, a
        # conflicting one stops `up` (every workflow start would fail on it).
        added = await ensure_search_attributes(client, settings.namespace)
        _say(
            f"• Temporal already running at {address}: using it"
            + (f" (registered csops' search attributes {', '.join(added)})" if added else "")
        )
    except TimeoutError:
        if host not in LOCAL_HOSTS or not port_text.isdigit():
            raise UpError(
                f"Temporal at {address} (TEMPORAL_ADDRESS) does not answer, and `up` starts "
                "a dev server only on this machine (localhost:PORT)"
            ) from None
        port, ui_port = int(port_text), ui_port or DEFAULT_UI_PORT
        ui = f"http://localhost:{ui_port}"
        codec_endpoint = None
        if settings.codec_keys:  # the UI decodes through a codec server of this run
            from csops.codec_server import start_codec_server

            codec_endpoint = f"http://127.0.0.1:{codec_port}"
            _say(
                f"• starting the codec server at {codec_endpoint} for the UI "
                f"(log: {data_dir}/codec-server.log)"
            )
            children.append(
                start_codec_server(
                    codec_port, f"http://localhost:{ui_port}", data_dir / "codec-server.log"
                )
            )
        _say(
            f"• starting Temporal dev server at {address} (SQLite: {data_dir}/temporal.db; "
            f"log: {data_dir}/temporal.log)"
        )
        children.append(
            start_dev_server(
                data_dir,
                port,
                ui_port,
                settings.namespace,
                log_path=data_dir / "temporal.log",
                codec_endpoint=codec_endpoint,
            )
        )
        client = await wait_until_reachable(
            address, settings.namespace, settings.codec_keys, timeout_s=90, access=access
        )

    engine = make_engine(settings.database_url)
    if book_exists(engine):
        _say("• demo book already in the context database: keeping it")
    else:
        summary = generate_book(engine, accounts=accounts, seed=7)
        _say(
            f"• seeded {summary.accounts} accounts {summary.by_segment}, "
            f"{summary.usage_rows:,} usage rows, {summary.tickets} tickets"
        )

    from adapters.knowledge import KnowledgeBase
    from csops.importing import import_demo_knowledge

    for report in import_demo_knowledge(engine, KnowledgeBase(engine, settings.knowledge_dir)):
        _say(
            f"• demo help centre {report.kind}: {report.imported} imported, "
            f"{report.unchanged} unchanged (index: {settings.knowledge_dir})"
        )

    worker_env = _ticket_webhook(data_dir, settings)
    if "CSOPS_UI_URL" not in os.environ:  # the digests link to this run's UI
        worker_env["CSOPS_UI_URL"] = ui
    _say(f"• starting the worker (log: {data_dir}/worker.log)")
    children.append(await asyncio.to_thread(_start_worker, data_dir, address, worker_env))

    _say("• submitting demo tickets")
    expected = 0  # the human requests the submitted demo tickets open
    for t in DEMO_TICKETS:
        try:
            account = pick_account(engine, t.pick, owner=DEMO_CSM)
        except LookupError as err:  # a small book (`--accounts 30`) lacks some kinds
            _say(f"    {t.ticket_id:<20} skipped: {err} (a book of 60 or more has one)")
            continue
        launch = await submit_ticket(
            engine, client, settings.task_queue, t.ticket_id, account, t.subject, t.body
        )
        expected += t.opens_requests
        state = "started" if launch.started else "already routed earlier"
        _say(f"    {launch.handle.id:<20} {account}  {state}: {t.expect}")

    from csops.onboard import launch_onboarding, new_accounts

    cohort = new_accounts(engine)
    launches = await launch_onboarding(engine, client, settings.task_queue, cohort)
    _say(
        f"• onboarding the {len(cohort)} new account(s): "
        f"{sum(r.outcome == 'started' for r in launches)} started, "
        f"{sum(r.outcome == 'already running' for r in launches)} already running"
    )

    from csops.schedules import (
        ALL_SCHEDULE_IDS,
        DIGEST_CRON,
        DIGEST_SCHEDULE_ID,
        HEALTH_DIGEST_SCHEDULE_ID,
        HEALTH_SCHEDULE_ID,
        SCHEDULE_ID,
        first_run_report,
        install,
        install_digest,
        install_health,
        install_health_digest,
        installed_times,
    )
    from policies.loader import load_policies

    policies = load_policies(settings.policy_dir)
    renewal_policy, health_policy = policies.renewal, policies.health
    assert renewal_policy is not None and health_policy is not None  # the loader fills them
    nightly, queue = renewal_policy.schedule, settings.task_queue
    # A restart keeps the times (and pause) a user gave the installed Schedules;
    # `csops schedule install --reset` puts them back to the policies'.
    what = await install(
        client, queue, nightly.cron, nightly.timezone, nightly.catchup_window_hours, True
    )
    digest_what = await install_digest(client, queue, DIGEST_CRON, nightly.timezone, True)
    health_what = await install_health(client, queue, health_policy.sweep, True)
    weekly_what = await install_health_digest(client, queue, health_policy.digest, True)
    times = dict(
        zip(
            ALL_SCHEDULE_IDS,
            await asyncio.gather(*(installed_times(client, i) for i in ALL_SCHEDULE_IDS)),
            strict=True,
        )
    )
    health_schedule = client.get_schedule_handle(HEALTH_SCHEDULE_ID)
    if not (await health_schedule.describe()).info.recent_actions:
        await health_schedule.trigger()  # the first run: every account's score now
        health_what += ", triggered once"
    schedule = client.get_schedule_handle(SCHEDULE_ID)
    if not (await schedule.describe()).info.recent_actions:
        await schedule.trigger()  # the first run: packages for the renewals in the window now
        what += ", triggered once"
    # What the runs did, from Temporal: the sweep's report, the digest's last run.
    sweep_run, digest_run, health_run = await asyncio.gather(
        first_run_report(client, SCHEDULE_ID, FIRST_RUN_WAIT_S),
        first_run_report(client, DIGEST_SCHEDULE_ID, 0),
        first_run_report(client, HEALTH_SCHEDULE_ID, FIRST_RUN_WAIT_S),
    )

    def when(schedule_id: str) -> str:
        return " ".join(times[schedule_id])

    _say(
        f"• Schedule {SCHEDULE_ID} {what} ({when(SCHEDULE_ID)}) → {sweep_run}; "
        f"packages land in {settings.artifact_dir.resolve()}"
    )
    _say(
        f"• Schedule {DIGEST_SCHEDULE_ID} {digest_what} ({when(DIGEST_SCHEDULE_ID)}) → {digest_run}"
    )
    _say(
        f"• Schedule {HEALTH_SCHEDULE_ID} {health_what} ({when(HEALTH_SCHEDULE_ID)}) "
        f"→ {health_run}; scores: `csops health --all`"
    )
    _say(
        f"• Schedule {HEALTH_DIGEST_SCHEDULE_ID} {weekly_what} ({when(HEALTH_DIGEST_SCHEDULE_ID)}); "
        "send it now: `csops schedule trigger --health-digest`"
    )
    from csops.artifact_server import serve_artifacts

    try:  # a daemon thread: it stops with `up`
        serve_artifacts(settings.artifact_dir, settings.artifact_url)
        packages = f"Renewal packages (read-only): {settings.artifact_url}/"
    except OSError as err:
        packages = f"Renewal packages not served: {settings.artifact_url} ({err.strerror})"

    tally = await _agents_tally(engine)
    _say(
        f"• the account watches after the health sweep: {tally['alerts']} risk alert(s) to "
        f"CSMs, {tally['tickets']} internal ticket(s) opened, {tally['plays']} expansion "
        f"play(s) waiting for a CSM ({tally['to_decide']} to decide); "
        "`CsopsHealth < 40` in the UI lists the accounts at risk"
    )
    expected += tally["to_decide"]  # the plays' requests are in the list below too
    # Give the worker a moment to route them, then show what waits.
    items: list = []
    silent: list[str] = []
    seen = []
    for _ in range(40):  # visibility lags the workflows by a moment
        await asyncio.sleep(0.5)
        # A worker that has just started replays each workflow before it can answer
        # a query: one that does not answer yet is asked again, not warned about.
        silent.clear()
        items = await collect_inbox(client, silent=silent)
        seen.append(len(items))
        # All demo requests are open, or (on a re-run, some decided) the count settled.
        settled = len(items) >= expected or (len(seen) > 6 and len(set(seen[-6:])) == 1)
        if settled and not silent:
            break
    outcome_report = await asyncio.to_thread(_demo_report, data_dir, settings, engine, policies)
    _say()
    _say(f"Temporal Web UI: {ui}/namespaces/{settings.namespace}/workflows", bold=True)
    _say(packages, bold=True)
    _say(outcome_report, bold=True)
    _say(f"Waiting for a human ({len(items)}):", bold=True)
    if silent:
        _say(f"  ({len(silent)} workflow(s) did not answer yet; `csops inbox` shows them later)")
    for i in items:
        r = i.request
        _say(f"  {i.workflow_id:<20} {r.request_id:<11} {r.kind:<8} {r.title}")
        _say(f"      may decide: {', '.join(r.eligible_approvers)}")
    _say()
    _say(f"A CSM's own queue in the UI: {inbox_query(DEMO_CSM)}")
    _say(f"From the shell:  .venv/bin/csops inbox --approver {DEMO_CSM}")
    hers = [i for i in items if DEMO_CSM in i.request.eligible_approvers]
    if hers:
        item = hers[0]
        _say(
            f"                 .venv/bin/csops decide {item.workflow_id} {item.request.request_id} "
            f"--decision {item.request.signal_payload['decision']} --approver {DEMO_CSM}"
        )
    _say("Ctrl-C stops the server and the worker.", dim=True)


def _demo_report(data_dir: Path, settings: Settings, engine, policies) -> str:
    """The outcome report of the demo run so far (the last 30 days), written under the
    state folder once the demo's work has settled; a line saying where it is."""
    from datetime import UTC, datetime

    from adapters.llm_prices import PriceError
    from csops.report import make_report

    out_dir = data_dir / "report"
    try:
        _, html = make_report(settings, engine, policies, None, datetime.now(UTC), out_dir)
    except (PriceError, OSError) as err:
        return f"Outcome report not written: {err}"
    return f"Outcome report of this run: {html.resolve()} (`csops report` makes a fresh one)"


def _ticket_webhook(data_dir: Path, settings: Settings) -> dict[str, str]:
    """Where the Risk agent opens internal tickets: the user's webhook, else a local
    sink writing them under the state folder; the worker's environment for it."""
    if settings.ticket_webhook_url:
        _say(f"• internal tickets go to {settings.ticket_webhook_url} (CSOPS_TICKET_WEBHOOK_URL)")
        return {}
    from csops.ticket_sink import DEFAULT_PORT, TicketSink

    try:  # a daemon thread: it stops with `up`
        sink = TicketSink(data_dir / "tickets")
    except OSError as err:
        _say(f"• internal tickets not opened: port {DEFAULT_PORT} is taken ({err.strerror})")
        return {}
    _say(f"• internal tickets: a local webhook at {sink.url} writes them to {sink.folder}/")
    return {"CSOPS_TICKET_WEBHOOK_URL": sink.url}


async def _agents_tally(engine, settle_s: float = 15.0) -> dict[str, int]:
    """What the Risk and Growth agents did so far, from their audit rows, once the
    count stops moving (the watches act on the sweep's signals a moment after it)."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from context.db import session
    from context.tables import AuditEvent

    def count() -> dict[str, int]:
        with session(engine) as s:
            rows = s.exec(
                select(AuditEvent.action, AuditEvent.outcome, AuditEvent.autonomy, func.count())
                .where(col(AuditEvent.action).in_(WATCH_ACTIONS))
                .group_by(col(AuditEvent.action), col(AuditEvent.outcome), col(AuditEvent.autonomy))
            ).all()
        n = {(a, o, level): k for a, o, level, k in rows}
        plays_sent = sum(
            k
            for (a, o, level), k in n.items()
            if (a, o) == ("expansion_play", "sent") and level in ("autonomous", "supervised")
        )
        # Copilot plays asked of the account team and not decided yet.
        to_decide = sum(
            k if o == "requested" else -k
            for (a, o, _), k in n.items()
            if a == "expansion_play" and o in ("requested", *CLOSED_REQUEST_OUTCOMES)
        )
        return {
            "alerts": sum(
                k for (a, o, _), k in n.items() if (a, o) == ("usage_anomaly_alert", "sent")
            ),
            "tickets": sum(
                k for (a, o, _), k in n.items() if (a, o) == ("internal_ticket", "opened")
            ),
            "plays": plays_sent + to_decide,
            "to_decide": to_decide,
        }

    seen: list[dict[str, int]] = []
    for _ in range(int(settle_s / 0.5)):
        seen.append(await asyncio.to_thread(count))
        if len(seen) >= 4 and seen[-1] == seen[-2] == seen[-3] == seen[-4]:
            break
        await asyncio.sleep(0.5)
    return seen[-1]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_up(
    data_dir: Path,
    accounts: int,
    port: int | None,
    ui_port: int | None,
    settings: Settings,
    codec_port: int = 8081,
) -> int:
    """Everything, in the foreground; the exit code. `port` None: TEMPORAL_ADDRESS."""
    from csops.devserver import SearchAttributeError

    data_dir.mkdir(exist_ok=True)
    children: list[subprocess.Popen] = []
    # `kill` (or a supervisor's stop) ends `up` like Ctrl-C: its server and worker stop
    # with it instead of running on as orphans.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(_prepare(data_dir, accounts, settings, port, ui_port, codec_port, children))
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        dead = [c for c in children if c.poll() is not None]
        command = dead[0].args
        assert isinstance(command, list)  # both children are started from an argv list
        _say(
            f"csops: {' '.join(map(str, command[:4]))} exited with {dead[0].returncode}; "
            f"see {data_dir}/*.log",
            fg=typer.colors.RED,
            err=True,
        )
        return 1
    except KeyboardInterrupt:
        _say("\nstopping…")
        return 0
    except (UpError, SearchAttributeError) as err:
        _say(f"csops: {err}", fg=typer.colors.RED, err=True)
        return 2
    finally:
        # The worker first (it finishes its tasks against a live server), then the server.
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
