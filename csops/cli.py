"""`csops`: run the server and worker, seed the book, submit tickets, and
decide what waits for a human. Every command that prints data takes --json."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from temporalio.client import Client

    from adapters.settings import Settings
    from contracts.accounts import AccountFacts
    from policies.model import PolicySet

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DATA_DIR = Path(".csops")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"csops {version('csops')}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """`csops` itself; its commands follow."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop with one sentence on stderr: as a JSON object when the command was asked
    for `--json` (scripts parse both streams), else as text."""
    if "--json" in sys.argv[1:]:
        typer.echo(json.dumps({"error": message, "exit_code": code}, ensure_ascii=False), err=True)
    else:
        typer.secho(f"csops: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


# A whole value that reads as a date and time: ISO (`T`) or str(datetime) (space),
# with or without seconds, fraction and zone.
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?"
)


def _iso(moment: datetime) -> str:
    """ISO 8601 with a zone; a naive datetime (SQLite keeps none) is UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def json_ready(data: Any) -> Any:
    """`data` with every timestamp in one form, `2026-11-21T22:09:29.403141+00:00`.
    Strings too: pydantic's JSON mode writes `…Z` and naive times without a zone, and
    workflow queries answer in it."""
    if isinstance(data, datetime):
        return _iso(data)
    if isinstance(data, str):
        return _iso(datetime.fromisoformat(data)) if _TIMESTAMP.fullmatch(data) else data
    if isinstance(data, dict):
        return {k: json_ready(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_ready(v) for v in data]
    return data


def emit(data, as_json: bool, human: Callable[[], None]) -> None:
    """Print `data` as JSON (timestamps ISO 8601 with a zone), or call `human()` to
    print it for people."""
    if as_json:
        typer.echo(json.dumps(json_ready(data), indent=2, default=str))
    else:
        human()


def _date_option(option: str, value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        fail(f"{option} {value!r} is not a date (YYYY-MM-DD)", code=2)


def _settings() -> Settings:
    # Imported here, like the client below: `csops --help` needs neither pydantic
    # nor the settings.
    from adapters.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as err:
        fail(str(err), code=2)


async def _client(settings: Settings, identity: str | None = None) -> Client:
    # Imported here: `csops --help` and commands that never reach Temporal start
    # without loading the Temporal client (about a third of a second).
    from adapters.temporal_client import Access, Unreachable, connect

    try:
        return await connect(
            settings.temporal_address,
            settings.namespace,
            settings.codec_keys,
            identity,
            Access.from_settings(settings),
        )
    except Unreachable as err:
        fail(str(err))


def _engine(settings: Settings) -> Engine:
    from context.db import DatabaseError, make_engine

    try:
        return make_engine(settings.database_url)
    except DatabaseError as err:
        fail(str(err), code=2)


def _policies(settings: Settings) -> PolicySet:
    """The policy files, validated: a broken one stops the command with file/field/reason."""
    from policies.loader import PolicyError, load_policies

    try:
        return load_policies(settings.policy_dir)
    except PolicyError as err:
        fail(str(err), code=2)


# ---------------------------------------------------------------- policy

policy_app = typer.Typer(help="The policy files: check them before a worker loads them.")
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def policy_check(
    directory: Annotated[
        Path | None,
        typer.Argument(help="A policy folder (default: CSOPS_POLICY_DIR or the shipped one)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate the policy files as the worker does, and warn about rules that can
    never apply. Exit 2 when a file is invalid."""
    from policies.checks import rule_warnings
    from policies.loader import DEFAULT_POLICY_DIR, PolicyError, load_policies

    folder = directory or _settings().policy_dir or DEFAULT_POLICY_DIR
    try:
        policies = load_policies(folder)
    except PolicyError as err:
        message = str(err)
        errors = [line.strip() for line in message.splitlines()[1:]]
        data = {"directory": str(folder), "valid": False, "errors": errors}
        emit(data, as_json, lambda: typer.echo(message, err=True))
        raise typer.Exit(2) from None
    warnings = rule_warnings(policies)
    data = {
        "directory": str(folder), "valid": True, "version": policies.version,
        "errors": [], "warnings": warnings,
    }  # fmt: skip

    def human() -> None:
        typer.echo(f"{folder}: valid, version {policies.version}, {len(warnings)} warning(s)")
        for w in warnings:
            typer.echo(f"  warning: {w}")

    emit(data, as_json, human)


def _window(since: str | None) -> tuple[datetime, datetime]:
    """--since (a day, UTC) to now; 30 days back without it."""
    from datetime import timedelta

    until = datetime.now(UTC)
    first = _date_option("--since", since)
    start = (
        datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        if first
        else until - timedelta(days=30)
    )
    if start >= until:
        fail(f"--since {since} is not before now", code=2)
    return start, until


SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="First day of the window YYYY-MM-DD (default: 30 days ago)."),
]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _duration(seconds: float | None) -> str:
    """Seconds in the unit a person reads them in: 40 s, 12 min, 5.5 h."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


@policy_app.command("stats")
def policy_stats(since: SinceOpt = None, as_json: JsonOpt = False) -> None:
    """What the audit log says about each action × rule × level: acted, requests,
    approval / edit / rejection rates, edit distance, reviews, escalations, expiries,
    median time to decision; and suggestions to move a rule left or right by the
    thresholds under `tuning:` in autonomy.yaml (stated as evidence, never applied)."""
    from rich.console import Console
    from rich.table import Table

    from csops.policy_tools import policy_stats as stats

    start, until = _window(since)
    settings = _settings()
    data = stats(_engine(settings), _policies(settings), start, until)

    def human() -> None:
        table = Table(
            title=f"Policy {data['policy_version']}: {start:%Y-%m-%d} to {until:%Y-%m-%d %H:%M} UTC"
        )
        for column in ("action", "rule", "level", "acted", "asked", "approved", "edited",
                       "rejected", "edit dist.", "reviews good/bad", "escalated", "expired",
                       "median decision"):  # fmt: skip
            table.add_column(column)
        for f in data["figures"]:
            bad = ", ".join(f"{r} {n}" for r, n in f["bad_reasons"].items())
            seconds = f["decision_seconds_median"]
            table.add_row(
                f["action"], f["rule"], f["level"], str(f["acted"]), str(f["requested"]),
                _rate(f["approval_rate"]), _rate(f["edit_rate"]), _rate(f["rejection_rate"]),
                "-" if f["edit_distance_mean"] is None else f"{f['edit_distance_mean']:.2f}",
                f"{f['reviews_good']}/{f['reviews_bad']}" + (f" ({bad})" if bad else ""),
                str(f["escalations"]), str(f["expired"]),
                _duration(seconds),
            )  # fmt: skip
        Console(width=200).print(table)
        for s in data["suggestions"] or [{"evidence": "no suggestions at these thresholds"}]:
            typer.echo(s["evidence"])

    emit(data, as_json, human)


@policy_app.command("simulate")
def policy_simulate(
    policy_dir: Annotated[
        Path,
        typer.Option(
            "--policy-dir", help="The candidate policy folder, checked as the worker would."
        ),
    ],
    since: SinceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-evaluate every decision recorded in the window under a candidate policy:
    which actions would move left or right (by action and rule) and the human requests
    that adds or removes per CSM and ISO week. Nothing runs."""
    from csops.policy_tools import simulate
    from policies.loader import PolicyError, load_policies

    start, until = _window(since)
    settings = _settings()
    try:
        candidate = load_policies(policy_dir)
    except PolicyError as err:
        fail(str(err), code=2)
    data = simulate(_engine(settings), _policies(settings), candidate, start, until)

    def human() -> None:
        typer.echo(
            f"Policy {data['current_version']} → {data['candidate_version']}, "
            f"{start:%Y-%m-%d} to {until:%Y-%m-%d %H:%M} UTC: {data['decisions']} decision(s), "
            f"{data['not_reevaluable']} without recorded facts (not re-evaluated)"
        )
        for m in data["moves"] or [{}]:
            if not m:
                typer.echo("  no decision would move")
                break
            typer.echo(
                f"  {m['action']}: {m['decisions']} move {m['direction']}, {m['from_level']} "
                f"(rule {m['from_rule']}) → {m['to_level']} (rule {m['to_rule']})"
            )
        for r in data["requests"]:
            typer.echo(f"  {r['csm']} {r['week']}: +{r['added']} / -{r['removed']} request(s)")

    emit(data, as_json, human)


# ---------------------------------------------------------------- runtime


@app.command()
def server(
    port: int = typer.Option(7233, help="gRPC port."),
    ui_port: int = typer.Option(8233, help="Web UI port."),
    codec_port: int = typer.Option(
        8081, help="With CSOPS_CODEC_KEYS: the port of the codec server the UI decodes with."
    ),
) -> None:
    """Run the Temporal dev server (SQLite under .csops/, UI, search attributes); with
    CSOPS_CODEC_KEYS also the codec server, so the UI shows payloads decrypted."""
    from csops.codec_server import start_codec_server
    from csops.devserver import dev_server_command

    settings = _settings()
    codec_endpoint = f"http://127.0.0.1:{codec_port}" if settings.codec_keys else None
    cmd = dev_server_command(
        DATA_DIR, port, ui_port, settings.namespace, codec_endpoint=codec_endpoint
    )
    typer.echo(f"Temporal dev server on localhost:{port}, UI http://localhost:{ui_port}")
    codec = None
    if codec_endpoint:
        log = DATA_DIR / "codec-server.log"
        typer.echo(f"codec server for the UI at {codec_endpoint} (log: {log})")
        codec = start_codec_server(codec_port, f"http://localhost:{ui_port}", log)
    try:
        code = subprocess.call(cmd)
    finally:
        if codec is not None:
            codec.terminate()
            try:
                codec.wait(timeout=10)
            except subprocess.TimeoutExpired:
                codec.kill()
    raise typer.Exit(code)


@app.command("codec-server")
def codec_server(
    port: int = typer.Option(8081, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    ui_origin: str | None = typer.Option(
        None,
        help="The Temporal UI's origin, the only one answered "
        "(default: CSOPS_UI_URL's, http://localhost:8233).",
    ),
) -> None:
    """Serve Temporal's remote codec (POST /decode, /encode) for the Web UI's
    --ui-codec-endpoint, with CSOPS_CODEC_KEYS; CORS for the UI's origin only."""
    from adapters.payload_codec import AesGcmCodec
    from csops.codec_server import checked_origin, serve

    settings = _settings()
    if not settings.codec_keys:
        fail("CSOPS_CODEC_KEYS is not set, so there is nothing to decode with", code=2)
    try:
        if ui_origin:
            origin = checked_origin(ui_origin)
        else:
            origin = checked_origin(settings.ui_url, from_url=True)
    except ValueError as err:
        fail(f"{'--ui-origin' if ui_origin else 'CSOPS_UI_URL'} {err}", code=2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(serve(AesGcmCodec(settings.codec_keys), origin, host, port))
    except OSError as err:
        fail(f"cannot listen on {host}:{port}: {err.strerror or err}")


@app.command("codec-key")
def codec_key(
    key_id: str | None = typer.Option(None, "--id", help="The key id (default: k + 8 hex)."),
    as_json: JsonOpt = False,
) -> None:
    """Print a new random AES-256 key as `kid=base64` for CSOPS_CODEC_KEYS."""
    from adapters.codec_keys import CodecKeyError, new_key_entry

    try:
        entry = new_key_entry(key_id)
    except CodecKeyError as err:
        fail(str(err), code=2)
    kid, _, key = entry.partition("=")
    emit(
        {"key_id": kid, "key": key, "entry": entry},
        as_json,
        lambda: typer.echo(entry),
    )
    if not as_json:
        typer.echo(
            "Put it first in CSOPS_CODEC_KEYS (comma-separated) and keep older keys after it "
            "while histories still need them.",
            err=True,
        )


@app.command()
def worker() -> None:
    """Run the worker: every workflow and activity, plus outbox delivery. Prometheus
    metrics on CSOPS_METRICS_PORT (csops) and CSOPS_SDK_METRICS_PORT (Temporal SDK);
    JSON log lines with CSOPS_LOG_FORMAT=json."""
    from adapters.logs import configure_logging
    from adapters.temporal_client import Unreachable
    from worker import run_worker

    settings = _settings()
    _policies(settings)
    _engine(settings).dispose()  # a database it cannot open: one sentence, not a trace
    configure_logging(settings.log_format)
    try:
        asyncio.run(run_worker(settings))  # SIGINT/SIGTERM stop it gracefully
    except Unreachable as err:
        fail(str(err))


@app.command()
def seed(
    accounts: int = typer.Option(60, min=1, help="How many accounts the book has."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same book."),
    as_of: str | None = typer.Option(None, help="Book date YYYY-MM-DD (default today)."),
    reset: bool = typer.Option(False, "--reset", help="Replace an existing book."),
    as_json: JsonOpt = False,
) -> None:
    """Generate a reproducible demo book into the context database."""
    from csops.demo_book import BookExistsError, generate_book

    day = _date_option("--as-of", as_of)
    try:
        summary = generate_book(
            _engine(_settings()), accounts=accounts, seed=seed, as_of=day, reset=reset
        )
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


# ---------------------------------------------------------------- import

import_app = typer.Typer(
    help="Customers' data into the context layer: CRM accounts and contacts, product usage, "
    "call transcripts, NPS, CRM notes, and the knowledge the agent answers from (help-centre "
    "articles, past tickets). Bad rows are reported with their line and reason while good "
    "rows are kept; importing the same file twice changes nothing.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="field=Column for a CSV whose column names differ (repeatable); "
        "the command's help lists its fields.",
    ),
]
CrmFormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        help="auto (HubSpot or Salesforce column names, detected from the header), "
        "hubspot, salesforce, or csv (csops' own field names).",
    ),
]


def _print_import(report, as_json: bool) -> None:
    data = report.as_dict()

    def human() -> None:
        typer.echo(
            f"{data['kind']}: {data['imported']} imported, {data['updated']} updated, "
            f"{data['unchanged']} unchanged, {len(data['refused'])} refused"
            + (f"; index rebuilt for {', '.join(data['reindexed'])}" if data["reindexed"] else "")
        )
        for name, value in data["details"].items():
            typer.echo(f"  {name.replace('_', ' ')}: {value}")
        for r in data["refused"]:
            typer.echo(f"  refused {r['where']}:{r['line']}: {r['reason']}", err=True)

    emit(data, as_json, human)


@contextmanager
def _progress_bar(as_json: bool, what: str) -> Iterator[Callable[..., None] | None]:
    """A progress bar on stderr (rich), none for --json or when stderr is not a terminal.
    It yields `update(done, total=None)`: no total for a file read as it streams."""
    if as_json or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int | None = None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _import(what: str, as_json: bool, run: Callable[[Engine, Settings, Any], Any]) -> None:
    """Run one import with a progress bar; a file that cannot be read is one line."""
    from adapters.importers import ImportFileError

    settings = _settings()
    engine = _engine(settings)
    with _progress_bar(as_json, f"reading {what}") as progress:
        try:
            report = run(engine, settings, progress)
        except (ImportFileError, OSError, UnicodeDecodeError) as err:
            fail(str(err), code=2)
    _print_import(report, as_json)


def _field_map(pairs: list[str] | None, fields: tuple[str, ...]) -> dict[str, str]:
    from adapters.importers import ImportFileError, parse_field_map

    try:
        return parse_field_map(pairs or [], fields)
    except ImportFileError as err:
        fail(str(err), code=2)


@import_app.command("articles")
def import_articles_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="A folder of Markdown files with front matter, or a Zendesk articles .json."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Help-centre articles. Markdown front matter: id, title, locale, url, tags."""
    from adapters.knowledge import KnowledgeBase
    from csops.importing import import_articles

    _import(
        "articles",
        as_json,
        lambda engine, settings, progress: import_articles(
            engine, KnowledgeBase(engine, settings.knowledge_dir), path, progress
        ),
    )


@import_app.command("tickets")
def import_tickets_command(
    file: Annotated[Path, typer.Argument(help="The ticket export.")],
    fmt: str = typer.Option("csv", "--format", help="csv or zendesk-json."),
    field_map: MapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Past tickets; the solved ones with the answer that solved them become knowledge.
    CSV fields: id, subject, body, answer, status, priority, tags, language, created_at,
    account."""
    from adapters.importers import TICKET_FIELDS
    from adapters.knowledge import KnowledgeBase
    from csops.importing import import_tickets

    mapping = _field_map(field_map, TICKET_FIELDS)
    _import(
        "tickets",
        as_json,
        lambda engine, settings, progress: import_tickets(
            engine, KnowledgeBase(engine, settings.knowledge_dir), file, fmt, mapping, progress
        ),
    )


@import_app.command("accounts")
def import_accounts_command(
    file: Annotated[Path, typer.Argument(help="A CRM export (CSV).")],
    fmt: CrmFormatOpt = "auto",
    field_map: MapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """CRM accounts (HubSpot companies, Salesforce accounts). Fields: id, name, arr, seats,
    renewal_date, owner_csm (required); segment (else from ARR), plan, stage (else
    adopting), signed_date (else a year before renewal), manager (else the owner).
    Every account's top-N rank is then its place by ARR."""
    from adapters.importers import ACCOUNT_FIELDS
    from csops.importing import import_accounts

    mapping = _field_map(field_map, ACCOUNT_FIELDS)
    _import(
        "accounts",
        as_json,
        lambda engine, _settings, progress: import_accounts(engine, file, fmt, mapping, progress),
    )


@import_app.command("contacts")
def import_contacts_command(
    file: Annotated[Path, typer.Argument(help="A CRM export (CSV).")],
    fmt: CrmFormatOpt = "auto",
    field_map: MapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """CRM contacts of imported accounts, one per account and email. Fields: account,
    email (required), name or first_name + last_name, role, decision_maker, primary
    (true/yes/1), influence (low, medium, high)."""
    from adapters.importers import CONTACT_FIELDS
    from csops.importing import import_contacts

    mapping = _field_map(field_map, CONTACT_FIELDS)
    _import(
        "contacts",
        as_json,
        lambda engine, _settings, progress: import_contacts(engine, file, fmt, mapping, progress),
    )


@import_app.command("usage")
def import_usage_command(
    file: Annotated[Path, typer.Argument(help="Segment track events, one JSON object a line.")],
    event_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help='"Event Name=feature" beside the built-in event names (repeatable); '
            "features: agent_resolutions, api_calls, integrations, reports.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Product usage from Segment track events (account: context.groupId or
    properties.account_id), aggregated per account and UTC day: active_users counts
    distinct users, each mapped feature its events. A day in the file replaces that
    day's stored values."""
    from adapters.importers import ImportFileError, parse_event_map
    from csops.importing import import_usage

    try:
        events = parse_event_map(event_map or [])
    except ImportFileError as err:
        fail(str(err), code=2)
    _import(
        "events",
        as_json,
        lambda engine, _settings, progress: import_usage(engine, file, events, progress),
    )


@import_app.command("transcripts")
def import_transcripts_command(
    path: Annotated[Path, typer.Argument(help="A .txt or .vtt file, or a folder of them.")],
    as_json: JsonOpt = False,
) -> None:
    """Call transcripts, one call a file. `Account:` and `Date:` (and optionally `Title:`,
    `Participants:`) lines head a text file and sit in a WebVTT file's NOTE block;
    speakers are `Name: ...` lines or WebVTT voices."""
    from csops.importing import import_transcripts

    _import(
        "transcripts",
        as_json,
        lambda engine, _settings, progress: import_transcripts(engine, path, progress),
    )


@import_app.command("nps")
def import_nps_command(
    file: Annotated[Path, typer.Argument(help="NPS responses (CSV).")],
    field_map: MapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """NPS responses. Fields: account, at, email, score (0-10), comment."""
    from adapters.importers import NPS_FIELDS
    from csops.importing import import_nps

    mapping = _field_map(field_map, NPS_FIELDS)
    _import(
        "responses",
        as_json,
        lambda engine, _settings, progress: import_nps(engine, file, mapping, progress),
    )


@import_app.command("notes")
def import_notes_command(
    file: Annotated[Path, typer.Argument(help="CRM notes (CSV).")],
    field_map: MapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """CRM notes. Fields: account, at, author, text."""
    from adapters.importers import NOTE_FIELDS
    from csops.importing import import_notes

    mapping = _field_map(field_map, NOTE_FIELDS)
    _import(
        "notes",
        as_json,
        lambda engine, _settings, progress: import_notes(engine, file, mapping, progress),
    )


# ---------------------------------------------------------------- tickets


@app.command()
def ticket(
    account: str = typer.Option(..., "--account", help="Account id, e.g. acc-0007."),
    subject: str = typer.Option(..., "--subject"),
    body: str | None = typer.Option(None, "--body", help="The text (or --body-file, or stdin)."),
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Read the text from a file.")
    ] = None,
    priority: str | None = typer.Option(
        None, "--priority", help="The helpdesk's priority: low, normal, high or urgent."
    ),
    tags: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag (repeat for more).")
    ] = None,
    requester: str | None = typer.Option(None, "--from", help="Requester email."),
    ticket_id: str | None = typer.Option(
        None, "--id", help="Ticket id (default: T-<date>-<random>)."
    ),
    as_json: JsonOpt = False,
) -> None:
    """Submit a support ticket and start its escalation workflow."""
    from adapters.importers import PRIORITIES
    from context.queries import NotFound
    from csops.tickets import (
        BadTicket,
        TicketConflict,
        checked_ticket,
        new_ticket_id,
        submit_ticket,
    )

    if priority is not None and priority.lower() not in PRIORITIES:
        fail(f"--priority {priority!r} is not one of low, normal, high, urgent", code=2)
    if body is not None and body_file is not None:
        fail("give the text with --body or --body-file, not both", code=2)
    if body_file is not None:
        try:
            body = body_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            fail(f"cannot read --body-file {body_file}: {err}", code=2)
    elif body is None:
        if sys.stdin.isatty():
            fail("no ticket text: give --body, --body-file or pipe it on stdin", code=2)
        body = sys.stdin.read()
    if not body.strip():
        fail("the ticket text is empty", code=2)
    tid = ticket_id or new_ticket_id()
    try:
        checked_ticket(tid, requester)  # before connecting: bad input is exit 2 at once
    except BadTicket as err:
        fail(str(err), code=2)
    settings = _settings()
    engine = _engine(settings)

    async def go():
        client = await _client(settings)
        try:
            launch = await submit_ticket(
                engine, client, settings.task_queue, tid, account, subject, body, requester,
                priority=PRIORITIES[priority.lower()] if priority else None, tags=tags,
            )  # fmt: skip
        except (NotFound, TicketConflict, BadTicket) as err:
            fail(str(err), code=2)
        return launch

    launch = asyncio.run(go())
    data = {"ticket_id": tid, "workflow_id": launch.handle.id, "started": launch.started}
    emit(
        data,
        as_json,
        lambda: typer.echo(
            f"{'started' if launch.started else 'already routed'} {launch.handle.id}"
            f"  ({settings.ui_url}/namespaces/{settings.namespace}/workflows)"
        ),
    )


@app.command()
def shadow(
    file: Annotated[Path, typer.Argument(help="A ticket export (CSV or Zendesk JSON).")],
    fmt: str = typer.Option("csv", "--format", help="csv or zendesk-json."),
    field_map: Annotated[
        list[str] | None,
        typer.Option("--map", help="field=Column for a CSV whose column names differ."),
    ] = None,
    accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--account",
            help="Route every ticket at this account (repeat to compare accounts); "
            "default: the account the file names for each ticket.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for report.html, report.json and shadow.db."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Route a ticket export through the real escalation workflows with nothing
    delivered: what the agent would answer alone, hand to a human (and why) and
    treat as hot, by account size x priority x language, with sample replies."""
    from datetime import UTC, datetime

    from adapters.importers import ImportFileError, parse_field_map, parse_tickets
    from csops.shadow import ShadowInputError, run_shadow
    from policies.loader import PolicyError

    settings = _settings()
    engine = _engine(settings)
    out_dir = out or DATA_DIR / "shadow" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        parsed = list(parse_tickets(file, fmt, parse_field_map(field_map or [])))
    except (ImportFileError, OSError, UnicodeDecodeError) as err:
        fail(str(err), code=2)
    with _progress_bar(as_json, "routing tickets") as progress:
        try:
            report = asyncio.run(
                run_shadow(settings, engine, file, parsed, accounts or [], out_dir, progress)
            )
        except (ShadowInputError, PolicyError) as err:
            fail(str(err), code=2)
        except FileNotFoundError as err:
            fail(str(err))
    data = report.as_dict()
    emit(data, as_json, lambda: _print_shadow(data))


def _print_shadow(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = data["totals"]
    console = Console()
    console.print(
        f"{data['tickets']} ticket(s), engine {data['engine']}, policy {data['policy_version']}: "
        f"{t['answered']} answered alone, {t['human']} to a human, {t['hot']} hot"
        + (f", {t['unsettled']} not routed in time" if t["unsettled"] else "")
        + f"; {data['strategic']} strategic ask(s). Nothing was delivered."
    )
    for route, title in (("human", "to a human, because"), ("hot", "hot, because")):
        reasons = Table(title, "tickets")
        for reason, n in data["reasons"][route].items():
            reasons.add_row(reason, str(n))
        console.print(reasons)
    # The full size x priority x language cube is in the report; here two faces of it.
    for by in ("priority", "language"):
        sums: dict[tuple[str, str], Counter] = {}
        for c in data["breakdown"]:
            sums.setdefault((c["account_size"], c[by]), Counter()).update(
                {k: c[k] for k in ("total", "answered", "human", "hot")}
            )
        cells = Table("account size", by, "tickets", "alone", "human", "hot")
        for (size, value), n in sums.items():
            cells.add_row(size, value, *(str(n[k]) for k in ("total", "answered", "human", "hot")))
        console.print(cells)
    for r in data["refused"]:
        typer.echo(f"  not routed {r['where']}:{r['line']}: {r['reason']}", err=True)
    console.print(f"report: {data['out_dir']}/report.html (and report.json)")


@app.command()
def onboard(
    accounts: Annotated[list[str] | None, typer.Argument(help="Account ids.")] = None,
    all_new: bool = typer.Option(False, "--all-new", help="Every account in stage `new`."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Start it for accounts past stage `new` too; the audit log records who "
        "forced it ($CSOPS_USER, else the login name) and the stage each account was in.",
    ),
    as_json: JsonOpt = False,
) -> None:
    """Start the 30-day onboarding for accounts in stage `new`; one already running is
    reported, not restarted. An account in another stage is refused (exit 2, nothing
    started) unless --force."""
    import getpass

    from csops.onboard import NotNewAccounts, launch_onboarding, new_accounts

    settings = _settings()
    engine = _engine(settings)
    ids = list(dict.fromkeys([*(accounts or []), *(new_accounts(engine) if all_new else [])]))
    if not ids:
        fail(
            "name accounts or pass --all-new"
            + (" (no account is in stage new)" if all_new else ""),
            code=2,
        )

    def progress(done: int, total: int, r) -> None:
        # Progress goes to stderr so --json output stays clean; print, not typer.echo,
        # which asks whether stderr is a terminal for every one of thousands of lines.
        line = f"[{done}/{total}] {r.workflow_id}: {r.outcome}"
        print(line + (f" ({r.error})" if r.error else ""), file=sys.stderr)

    async def go():
        try:
            return await launch_onboarding(
                engine, await _client(settings), settings.task_queue, ids, progress,
                forced_by=(settings.user or getpass.getuser()) if force else None,
            )  # fmt: skip
        except NotNewAccounts as err:
            fail(str(err), code=2)

    results = asyncio.run(go())
    counts = {
        k: sum(r.outcome == k for r in results) for k in ("started", "already running", "failed")
    }
    emit(
        {"summary": counts, "launches": [r.model_dump() for r in results]},
        as_json,
        lambda: typer.echo(", ".join(f"{n} {k}" for k, n in counts.items())),
    )
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
def renewal(
    account: str,
    renewal_date: str | None = typer.Option(
        None, "--date", help="Renewal date YYYY-MM-DD (default: the account's)."
    ),
    wait_s: float = typer.Option(120, "--wait", help="Seconds to wait for the artifact."),
    as_json: JsonOpt = False,
) -> None:
    """Assemble one account's renewal pre-call package now and print where it is."""
    from adapters.launcher import start_renewal_package
    from context.db import session
    from context.queries import NotFound, account_facts
    from csops.waiting import poll, renewal_artifact

    day = _date_option("--date", renewal_date)
    settings = _settings()
    try:
        with session(_engine(settings)) as s:
            facts = account_facts(s, account)
    except NotFound as err:
        fail(str(err), code=2)

    async def go():
        client = await _client(settings)
        launch = await start_renewal_package(client, settings.task_queue, facts, day)
        typer.echo(
            f"{'started' if launch.started else 'already assembled'} {launch.handle.id}", err=True
        )
        stored = await poll(lambda: renewal_artifact(launch.handle), wait_s)
        if stored is None:
            fail(f"{launch.handle.id}: no artifact after {wait_s:g}s; is a worker running?")
        return launch, stored

    launch, stored = asyncio.run(go())
    emit(
        {"workflow_id": launch.handle.id, "started": launch.started, **stored.model_dump()},
        as_json,
        lambda: typer.echo(
            (f"Open:     {stored.url}\n" if stored.url else "")
            + f"HTML:     {stored.html_path}\nMarkdown: {stored.markdown_path}\n"
            f"Pricing waits for the CSM: csops inbox --account {account}"
        ),
    )


def _account(settings: Settings, account_id: str) -> AccountFacts:
    from context.db import session
    from context.queries import NotFound, account_facts

    try:
        with session(_engine(settings)) as s:
            return account_facts(s, account_id)
    except NotFound as err:
        fail(str(err), code=2)


@app.command()
def investigate(
    account: Annotated[
        str | None, typer.Argument(help="Account id, e.g. acc-0007.", show_default=False)
    ] = None,
    question: str | None = typer.Option(
        None,
        "--question",
        help="What you want to know. A model reads it; the offline engine lists the "
        "claims whose evidence matches its keywords first, and says so.",
    ),
    days: int = typer.Option(
        90, "--days", min=1, max=365, help="Days of evidence, ending today (UTC)."
    ),
    workflow_id: str | None = typer.Option(
        None, "--id", help="Workflow id (default investigation/ACCOUNT/<UTC second>)."
    ),
    show: str | None = typer.Option(
        None,
        "--show",
        metavar="WORKFLOW_ID",
        help="Print the investigation that workflow stored instead of starting one.",
    ),
    wait_s: float = typer.Option(120, "--wait", help="Seconds to wait for the result."),
    as_json: JsonOpt = False,
) -> None:
    """Investigate an account: its last 90 days of evidence (weekly usage, tickets, CRM
    notes, calls, NPS, contacts, health) synthesised as claims, each citing the ids of
    its evidence: where it is at risk and why, what goes well, what to do next. Stored
    in the context layer; the CSM is told where."""
    from contracts.investigation import InvestigationInput, investigation_id
    from csops.investigate import investigation_result, print_claims, stored_investigation

    settings = _settings()
    if show:
        stored = stored_investigation(_engine(settings), show)
        if stored is None:
            fail(f"no investigation stored by {show}", code=2)
        emit(
            stored,
            as_json,
            lambda: print_claims(
                stored["claims"], stored["dropped"], stored["engine"], stored["answer_note"]
            ),
        )
        return
    if not account:
        fail("name an account, or pass --show WORKFLOW_ID", code=2)
    if question is not None and not question.strip():
        fail("--question is empty", code=2)
    facts = _account(settings, account)
    wid = workflow_id or investigation_id(account, datetime.now(UTC))
    inp = InvestigationInput(account_id=account, question=question, days=days)

    async def go():
        client = await _client(settings)
        try:
            return await investigation_result(client, settings.task_queue, facts, inp, wid, wait_s)
        except TimeoutError:
            fail(f"{wid}: no result after {wait_s:g}s; is a worker running?")

    launch, result = asyncio.run(go())
    data = {
        **result.model_dump(mode="json"),
        "started": launch.started,
        "dropped_count": len(result.dropped),
    }

    def human() -> None:
        typer.echo(
            f"{result.workflow_id}: {len(result.evidence)} evidence item(s) from "
            f"{result.since} to {result.as_of}"
            + (f"\nQuestion: {result.question}" if result.question else "")
        )
        print_claims(data["claims"], data["dropped"], result.engine, result.answer_note)
        typer.echo(f"\nStored: csops investigate --show {result.workflow_id}")

    emit(data, as_json, human)


@app.command()
def qbr(
    account: Annotated[str, typer.Argument(help="Account id, e.g. acc-0007.")],
    wait_s: float = typer.Option(120, "--wait", help="Seconds to wait for the draft."),
    as_json: JsonOpt = False,
) -> None:
    """Draft this quarter's executive QBR narrative for an account (workflow
    qbr/ACCOUNT/YYYY-Qn, once a quarter) from its last 90 days of evidence: outcomes
    delivered, usage and adoption, risks and asks, next quarter. The autonomy policy
    places it (executive_qbr_narrative: copilot, the account team decides every time);
    approve or edit it with `csops decide`, and the final text is stored as the
    account's QBR. Printed: the draft and how to decide, or the outcome once decided."""
    from adapters.launcher import start_investigation
    from contracts.investigation import InvestigationInput, qbr_id, quarter_of
    from csops.investigate import qbr_state

    settings = _settings()
    facts = _account(settings, account)
    quarter = quarter_of(datetime.now(UTC).date())
    inp = InvestigationInput(account_id=account, mode="qbr", quarter=quarter)
    wid = qbr_id(account, quarter)

    async def go():
        client = await _client(settings)
        launch = await start_investigation(client, settings.task_queue, facts, inp, wid)
        typer.echo(f"{'started' if launch.started else 'already drafted'} {wid}", err=True)
        state = await qbr_state(launch.handle, wait_s)
        if state is None:
            fail(f"{wid}: no draft after {wait_s:g}s; is a worker running?")
        return launch, state

    launch, state = asyncio.run(go())
    if "closed" in state:
        fail(f"{wid} ended {state['closed'].lower()}; see csops status {wid}")
    request, result = state.get("request"), state.get("result")
    data = {
        "workflow_id": wid,
        "started": launch.started,
        "quarter": quarter,
        "request": request.model_dump(mode="json") if request else None,
        "result": result.model_dump(mode="json") if result else None,
    }

    def human() -> None:
        if request:
            typer.echo(request.draft or "")
            typer.echo(
                f"Waiting for {', '.join(request.eligible_approvers)}: csops decide {wid} "
                f"{request.request_id} --decision approve|edit|reject --approver EMAIL "
                "[--text EDITED]"
            )
        elif result:
            typer.echo(f"{wid}: {result.narrative_status}")
            if result.narrative:
                typer.echo(result.narrative)

    emit(data, as_json, human)


PROGRESS_EVERY = 50  # accounts between progress lines of a long `csops health` run


@app.command()
def health(
    accounts: Annotated[
        list[str] | None, typer.Argument(help="Account ids, e.g. acc-0007.", show_default=False)
    ] = None,
    every: bool = typer.Option(False, "--all", help="Every account in the book."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Last day of data YYYY-MM-DD (default today, UTC)."
    ),
    as_json: JsonOpt = False,
) -> None:
    """Compute and store the health score of accounts (weights and bands in
    policies/health.yaml); print each score, band, trend and weakest component,
    or with --json every component and its evidence."""
    from sqlmodel import col, select

    from activities.renewal_sections import anger_judge  # the escalation's rules
    from context.db import session
    from context.health import record_health
    from context.tables import Account

    day = _date_option("--as-of", as_of) or datetime.now(UTC).date()
    settings = _settings()
    policies = _policies(settings)
    engine = _engine(settings)
    with session(engine) as s:
        known = s.exec(select(Account.id).order_by(col(Account.id))).all()
    ids = list(dict.fromkeys([*(accounts or []), *(known if every else [])]))
    if not ids:
        fail("name accounts or pass --all", code=2)
    unknown = sorted(set(ids) - set(known))
    if unknown:
        fail(f"no account {', '.join(unknown)} in the context database", code=2)

    results = []
    for done, account_id in enumerate(ids, 1):
        results.append(record_health(engine, account_id, day, policies, anger_judge))
        if len(ids) > PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == len(ids)):
            typer.echo(f"[{done}/{len(ids)}] health computed", err=True)

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table("account", "name", "score", "band", "trend", "weakest component")
        for h in results:
            trend = "first" if h.trend is None else f"{h.trend:+d}"
            table.add_row(h.account_id, h.account_name, str(h.score), h.band, trend, h.weakest)
        Console().print(table)

    emit([h.model_dump(mode="json") for h in results], as_json, human)


schedule_app = typer.Typer(
    help="The Schedules: the nightly renewal sweep (renewal-sweep-nightly), the CSM digest "
    "(csm-digest-daily), the nightly health sweep (health-sweep-nightly) and the weekly "
    "health digest per CSM (health-digest-weekly).",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("install")
def schedule_install(
    cron: str | None = typer.Option(
        None,
        help="Renewal sweep cron (default from renewal.yaml; given, it replaces the installed one).",
    ),
    timezone: str | None = typer.Option(
        None, help="IANA time zone of the sweep and the digest (default from renewal.yaml)."
    ),
    digest_cron: str | None = typer.Option(
        None, help="When the CSM digest goes out (default 0 7 * * 1-5)."
    ),
    reset: bool = typer.Option(
        False,
        "--reset",
        help="Put every Schedule back to the times of the options and policies, "
        "replacing the cron, time zone and pause set on the installed ones.",
    ),
    as_json: JsonOpt = False,
) -> None:
    """Create or update the four Schedules: the renewal sweep, the CSM digest, the
    health sweep and the weekly health digest (their times in policies/health.yaml);
    overlap: skip, missed runs caught up within a window. A Schedule already installed
    keeps its cron, time zone and pause (someone may have set them) unless an option
    here sets them or --reset is given; what it starts is always refreshed."""
    from csops.schedules import (
        ALL_SCHEDULE_IDS,
        DIGEST_CRON,
        install,
        install_digest,
        install_health,
        install_health_digest,
        installed_times,
    )
    from policies.model import known_timezone

    settings = _settings()
    policies = _policies(settings)
    renewal_policy, health_policy = policies.renewal, policies.health
    assert renewal_policy is not None and health_policy is not None  # the loader fills them
    d = renewal_policy.schedule
    tz = timezone or d.timezone
    try:
        known_timezone(tz)
    except ValueError as err:
        fail(f"--timezone {err}", code=2)
    keep_sweep = not reset and cron is None and timezone is None
    keep_digest = not reset and digest_cron is None and timezone is None
    queue = settings.task_queue

    async def go():
        client = await _client(settings)
        results = (
            await install(client, queue, cron or d.cron, tz, d.catchup_window_hours, keep_sweep),
            await install_digest(client, queue, digest_cron or DIGEST_CRON, tz, keep_digest),
            await install_health(client, queue, health_policy.sweep, not reset),
            await install_health_digest(client, queue, health_policy.digest, not reset),
        )
        times = [await installed_times(client, sid) for sid in ALL_SCHEDULE_IDS]
        return results, times

    results, times = asyncio.run(go())
    data = [
        {"schedule_id": sid, "result": result, "cron": when, "timezone": zone}
        for sid, result, (when, zone) in zip(ALL_SCHEDULE_IDS, results, times, strict=True)
    ]

    def human() -> None:
        for s in data:
            typer.echo(f"{s['result']} {s['schedule_id']}: {s['cron']} ({s['timezone']})")

    emit(data, as_json, human)


@schedule_app.command("show")
def schedule_show(as_json: JsonOpt = False) -> None:
    """The installed Schedules: when they run (in words and cron), the next runs,
    paused or not, and the recent runs with their start time, workflow id, status
    and outcome."""
    from csops.schedules import ALL_SCHEDULE_IDS, show, show_in_words

    settings = _settings()

    async def go():
        from temporalio.service import RPCError, RPCStatusCode

        client = await _client(settings)
        shown = []
        for schedule_id in ALL_SCHEDULE_IDS:
            try:
                shown.append(await show(client, schedule_id))
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    fail(f"{schedule_id}: {err.message}")
        if not shown:
            fail("no Schedule is installed (run `csops schedule install` first)", code=2)
        return shown

    data = asyncio.run(go())
    emit(data, as_json, lambda: typer.echo("\n\n".join("\n".join(show_in_words(v)) for v in data)))


@schedule_app.command("trigger")
def schedule_trigger(
    digest: bool = typer.Option(False, "--digest", help="Send the CSM digest instead."),
    health: bool = typer.Option(False, "--health", help="Run the health sweep instead."),
    health_digest: bool = typer.Option(
        False, "--health-digest", help="Send the weekly health digest instead."
    ),
    as_json: JsonOpt = False,
) -> None:
    """Run the renewal sweep (or, with --digest, the CSM digest; with --health, the
    health sweep; with --health-digest, the weekly health digest) now, through its
    Schedule."""
    from csops.schedules import (
        DIGEST_SCHEDULE_ID,
        HEALTH_DIGEST_SCHEDULE_ID,
        HEALTH_SCHEDULE_ID,
        SCHEDULE_ID,
    )

    chosen = {
        DIGEST_SCHEDULE_ID: digest,
        HEALTH_SCHEDULE_ID: health,
        HEALTH_DIGEST_SCHEDULE_ID: health_digest,
    }
    if sum(chosen.values()) > 1:
        fail("give one of --digest, --health and --health-digest", code=2)
    settings = _settings()
    schedule_id = next((s for s, on in chosen.items() if on), SCHEDULE_ID)

    async def go():
        from temporalio.service import RPCError

        try:
            await (await _client(settings)).get_schedule_handle(schedule_id).trigger()
        except RPCError as err:
            fail(f"{err.message} (run `csops schedule install` first)", code=2)

    asyncio.run(go())
    emit(
        {"schedule_id": schedule_id, "triggered": True},
        as_json,
        lambda: typer.echo(f"triggered {schedule_id}; follow it with `csops schedule show`"),
    )


@schedule_app.command("remove")
def schedule_remove(as_json: JsonOpt = False) -> None:
    """Delete the Schedules (running sweeps finish)."""
    from csops.schedules import ALL_SCHEDULE_IDS

    settings = _settings()

    async def go():
        from temporalio.service import RPCError

        client = await _client(settings)
        removed = []
        for schedule_id in ALL_SCHEDULE_IDS:
            try:
                await client.get_schedule_handle(schedule_id).delete()
                removed.append(schedule_id)
            except RPCError:
                pass  # not installed: nothing to remove
        return removed

    removed = asyncio.run(go())
    emit(
        {"removed": removed},
        as_json,
        lambda: typer.echo(f"removed {', '.join(removed) or 'nothing (none installed)'}"),
    )


@app.command()
def outbox(
    failed: bool = typer.Option(False, "--failed", help="Only messages that failed for good."),
    retry: int | None = typer.Option(None, "--retry", help="Queue this failed message again."),
    limit: int = typer.Option(50, "--limit", min=1, help="How many of the newest to list."),
    as_json: JsonOpt = False,
) -> None:
    """The outbox: what was queued, delivered or failed (newest first), with the last
    error; `--retry ID` queues a failed message again."""
    from adapters.delivery import recent_messages, retry_message

    engine = _engine(_settings())
    if retry is not None:
        try:
            row = retry_message(engine, retry)
        except LookupError as err:
            fail(str(err), code=2)
        emit(
            {"id": row.id, "status": row.status},
            as_json,
            lambda: typer.echo(f"message {row.id} queued again"),
        )
        return
    rows = recent_messages(engine, failed_only=failed, limit=limit)
    data = [
        {
            "id": r.id,
            "status": r.status,
            "audience": r.audience,
            "to": r.to,
            "subject": r.subject,
            "workflow_id": r.workflow_id,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "created_at": r.created_at.isoformat(),
        }  # fmt: skip
        for r in rows
    ]

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "status", "to", "subject", "tries", "last error")
        for r in data:
            table.add_row(
                *(
                    str(r[k] or "")
                    for k in ("id", "status", "to", "subject", "attempts", "last_error")
                )
            )
        Console().print(
            table if data else "the outbox is empty" + (" of failures" if failed else "")
        )

    emit(data, as_json, human)


# ---------------------------------------------------------------- humans


@app.command()
def inbox(
    approver: str | None = typer.Option(None, "--approver", help="Only what EMAIL may decide."),
    account: str | None = typer.Option(None, "--account", help="Only this account."),
    as_json: JsonOpt = False,
) -> None:
    """Every pending human request across running workflows, most urgent first: hot
    acknowledgements, then overdue, then by due time."""
    from adapters.inbox import collect_inbox, inbox_query

    settings = _settings()

    silent: list[str] = []

    async def go():
        return await collect_inbox(await _client(settings), approver, account, silent=silent)

    items = asyncio.run(go())
    if silent:  # said on stderr, so `--json` stays a list
        typer.echo(
            f"{len(silent)} workflow(s) did not answer (is a worker running?): "
            + ", ".join(silent[:5])
            + (" …" if len(silent) > 5 else ""),
            err=True,
        )

    def human():
        if not items:
            typer.echo("Nothing waits for a human" + (f" ({approver})" if approver else "") + ".")
            return
        for i in items:
            r = i.request
            typer.echo(
                f"{i.urgency.upper():8} {i.workflow_id}  {r.request_id}  "
                f"[{r.kind}/{r.autonomy.value}]  "
                f"account {i.account_id}  age {i.age_minutes:.0f} min  "
                f"due {r.due_at:%Y-%m-%d %H:%M} UTC"
            )
            typer.echo(f"    {r.title}")
            typer.echo(f"    may decide: {', '.join(r.eligible_approvers)}")
            mine = approver and next(
                (p[0] for a, p in r.payloads.items() if a.lower() == approver.lower()), None
            )
            typer.echo(f"    signal payload: {json.dumps(mine or r.signal_payload)}")
        typer.echo(f"\n{len(items)} waiting. UI filter: {inbox_query(approver, account)}")

    emit([i.model_dump(mode="json") for i in items], as_json, human)


@app.command()
def decide(
    workflow_id: Annotated[
        str | None, typer.Argument(help="The workflow, e.g. escalation/T-1.")
    ] = None,
    request_id: Annotated[str | None, typer.Argument(help="The request, e.g. approval-1.")] = None,
    decision: str = typer.Option(
        ..., "--decision", help="approve | reject | edit | ack | done | good | bad (a review)"
    ),
    approver: str | None = typer.Option(None, "--approver", help="Your email."),
    all_for_approver: str | None = typer.Option(
        None,
        "--all-for-approver",
        metavar="EMAIL",
        help="Decide every open request EMAIL may decide and this decision fits.",
    ),
    account: str | None = typer.Option(
        None, "--account", help="With --all-for-approver: one account."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Skip the confirmation (bulk only)."),
    text: str | None = typer.Option(None, "--text", help="The edited draft (edit only)."),
    note: str | None = typer.Option(None, "--note"),
    reason: str | None = typer.Option(
        None,
        "--reason",
        help="Why a review is graded bad (bad only): wrong_facts | wrong_tone | "
        "should_not_have_been_sent | wrong_language | other.",
    ),
    identity: str | None = typer.Option(
        None,
        "--identity",
        metavar="EMAIL",
        help="Who you are to Temporal (default: $CSOPS_USER). The workflow refuses a "
        "decision whose identity is an address other than --approver.",
    ),
    as_json: JsonOpt = False,
) -> None:
    """Decide one request, or all of one approver's (--all-for-approver), through the
    `decide` update: each refusal comes back with its reason. The workflow compares
    the identity Temporal records with the approver (RELIABILITY.md says what that
    proves)."""
    from pydantic import ValidationError

    from contracts.human import DecideInput
    from csops.decide import Target, decide_each, open_for

    bulk = all_for_approver is not None
    if bulk == bool(workflow_id and request_id):
        fail("give WORKFLOW_ID REQUEST_ID --approver EMAIL, or --all-for-approver EMAIL", code=2)
    if bulk and decision == "edit":
        fail("an edit carries its own text: decide it one request at a time", code=2)
    who = all_for_approver or approver
    if not who:
        fail("--approver is required", code=2)
    try:
        DecideInput.model_validate(
            {"request_id": request_id or "-", "decision": decision, "approver": who,
             "reason": reason}
        )  # fmt: skip
    except ValidationError as err:
        fail("; ".join(e["msg"] for e in err.errors()), code=2)
    settings = _settings()

    async def go() -> tuple[list[Target], list[dict[str, str]]]:
        client = await _client(settings, identity or settings.user)
        if bulk:
            todo = await open_for(client, who, decision, account)
        else:
            todo = [Target(workflow_id=workflow_id or "", request_id=request_id or "")]
        if bulk and not todo:
            return todo, []
        if bulk and not yes:
            for target in todo:
                typer.echo(f"  {target.workflow_id} {target.request_id}: {target.title}", err=True)
            if not sys.stdin.isatty():
                fail(f"{len(todo)} request(s) to {decision}: pass --yes to confirm", code=2)
            typer.confirm(
                f"{decision} these {len(todo)} request(s) as {who}?", abort=True, err=True
            )
        outcomes = await decide_each(client, todo, decision, who, text, note, reason)
        return todo, [o.as_dict() for o in outcomes]

    todo, results = asyncio.run(go())
    refused = [r for r in results if "refused" in r]
    if not bulk and refused:
        fail(f"refused: {refused[0]['refused']}", code=3)

    def human() -> None:
        if bulk and not todo:
            typer.echo(f"nothing open that {who} may {decision}")
        for r in results:
            typer.echo(
                f"{r['workflow_id']} {r['request_id']}: "
                + (f"refused: {r['refused']}" if "refused" in r else f"{r['status']} by {who}")
            )
        if bulk:
            typer.echo(f"{len(results) - len(refused)} decided, {len(refused)} refused")

    emit(results if bulk else results[0], as_json, human)
    if refused:
        raise typer.Exit(3)


@app.command()
def status(workflow_id: str, as_json: JsonOpt = False) -> None:
    """A workflow's state, current details and every human request."""
    from temporalio.client import WorkflowExecutionDescription, WorkflowQueryFailedError
    from temporalio.common import RawValue
    from temporalio.service import RPCError

    from contracts import names

    settings = _settings()

    async def go() -> tuple[WorkflowExecutionDescription, dict[str, Any] | None, str]:
        handle = (await _client(settings)).get_workflow_handle(workflow_id)
        # The three calls are independent: one round trip's wait instead of three.
        desc, answers = await asyncio.gather(
            handle.describe(),
            asyncio.gather(
                handle.query(names.HUMAN_HISTORY_QUERY, result_type=dict),
                # Its proto JSON read as it is: the proto module would cost ~70 ms
                # of start-up for one field.
                handle.query(names.WORKFLOW_METADATA_QUERY, result_type=RawValue),
            ),
            return_exceptions=True,
        )
        if isinstance(desc, RPCError):
            fail(f"{workflow_id}: {desc.message}", code=2)
        if isinstance(desc, BaseException):
            raise desc
        if isinstance(answers, (RPCError, WorkflowQueryFailedError)):
            # No worker answering (e.g. stopped): show what the server knows.
            return desc, None, f"(no answer from a worker: {answers})"
        if isinstance(answers, BaseException):
            raise answers
        history, meta = answers
        return desc, history, json.loads(meta.payload.data).get("currentDetails", "")

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


# ---------------------------------------------------------------- outcomes


@app.command()
def report(
    since: str | None = typer.Option(
        None, "--since", help="First day of the window YYYY-MM-DD (default: 30 days ago)."
    ),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for report.html, its PNG charts and report.json "
            "(default: .csops/reports/<time>).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The outcome report for the CS leader, from the audit log and the context
    layer: units of work delivered (per account and segment), agent actions by
    level and work type, human decisions and their turnaround, hot-ticket ack time,
    LLM calls and cost (prices: CSOPS_LLM_PRICES), CSM load. Writes an HTML page
    with charts and report.json; the window runs from --since to now."""
    from adapters.llm_prices import PriceError
    from csops.report import make_report

    until = datetime.now(UTC)
    first = _date_option("--since", since)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC) if first else None
    if start is not None and start >= until:
        fail(f"--since {since} is not before now", code=2)
    settings = _settings()
    policies = _policies(settings)
    out_dir = out or DATA_DIR / "reports" / until.strftime("%Y%m%dT%H%M%SZ")
    say = lambda line: typer.echo(f"report: {line}", err=True)  # noqa: E731
    try:
        data, html = make_report(
            settings, _engine(settings), policies, start, until, out_dir, progress=say
        )
    except PriceError as err:
        fail(str(err), code=2)
    except OSError as err:
        fail(f"cannot write the report to {out_dir} ({err.strerror})")

    def human() -> None:
        u, llm = data["units"], data["llm"]
        typer.echo(
            f"{data['since'][:10]} to {data['until'][:16]}: {data['units_total']} units of "
            f"work ({u['tickets_agent_alone']} tickets by the agent alone, "
            f"{u['tickets_agent_and_human']} with a human, {u['tickets_by_humans']} by "
            f"humans; {u['onboardings_activated']} onboardings activated; "
            f"{u['renewal_packages_before_call']} renewal packages before the call; "
            f"{u['risks_caught_before_renewal']} risks caught before renewal)"
        )
        typer.echo(
            f"{sum(a['n'] for a in data['actions'])} agent actions, {data['decisions']} human "
            f"decisions, {llm['calls']} LLM calls ({llm['tokens']:,} tokens, "
            f"${llm['cost_usd']:.4f}); engine {data['engine']}, policy {data['policy_version']}"
        )
        typer.echo(f"report: {html.resolve()} (and report.json)")

    emit({**data, "html": str(html.resolve())}, as_json, human)


# ---------------------------------------------------------------- everything


@app.command()
def up(
    accounts: int = typer.Option(60, help="Demo book size (first run only)."),
    port: int | None = typer.Option(
        None,
        min=1,
        max=65535,
        help="Temporal's gRPC port on localhost (default: TEMPORAL_ADDRESS, localhost:7233). "
        "A server answering there is used; else a dev server is started on it.",
    ),
    ui_port: int | None = typer.Option(
        None,
        min=1,
        max=65535,
        help="The Web UI's port when `up` starts the dev server (default 8233).",
    ),
    codec_port: int = typer.Option(
        8081, help="With CSOPS_CODEC_KEYS: the port of the codec server the UI decodes with."
    ),
) -> None:
    """Server + UI + worker + demo data + demo tickets, in the foreground (with
    CSOPS_CODEC_KEYS also the codec server for the UI). A server already running is
    used once it has csops' search attributes (missing ones are registered). Ctrl-C
    stops all."""
    from csops.up import run_up

    settings = _settings()
    _policies(settings)
    DATA_DIR.mkdir(exist_ok=True)  # the default SQLite database lives in it
    _engine(settings).dispose()  # a database it cannot open: one sentence, not a trace
    raise typer.Exit(run_up(DATA_DIR, accounts, port, ui_port, settings, codec_port))


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except Exception as err:
        from adapters.payload_codec import decode_problem

        # A payload csops cannot decrypt is a configuration matter: one sentence, exit 2.
        problem = decode_problem(err)
        if problem is None:
            raise
        typer.secho(f"csops: {problem}", err=True, fg=typer.colors.RED)
        code = 2
    # Skip interpreter finalization: the Temporal client's Rust threads can call into
    # a finalizing interpreter and abort a command that already succeeded
    # (temporalio/sdk-python#300). Everything worth keeping is flushed first.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
