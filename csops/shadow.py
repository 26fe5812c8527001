"""Shadow mode (`csops shadow`): a ticket export through the real escalation
workflows, with nothing delivered, to see what the agent would do before its
autonomy is turned on for a customer.

The run is a separate state: a temporary Temporal dev server (in memory), and a
context database of its own under the output folder holding the accounts named,
what is known about them and all knowledge. The worker is the real one with no
delivery loop, so every message stays in that database's outbox, marked
`shadow`. Each escalation runs until its route is final (answered alone, or a
human asked); then it is terminated, before any reminder or ladder step.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select, update
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.files import write_atomic
from adapters.importers import Parsed, TicketRecord
from adapters.launcher import start_escalation
from adapters.openai_provider import OpenAIProvider
from adapters.settings import Settings
from adapters.templates import render
from adapters.temporal_client import data_converter
from context.copying import copy_accounts
from context.db import make_engine, session
from context.queries import account_facts
from context.tables import OutboxMessage
from contracts import names
from contracts import search_attributes as sa
from contracts.accounts import AccountFacts
from contracts.escalation import EscalationState
from csops.devserver import DEV_SERVER_TUNING, find_binary
from csops.tickets import BadTicket, check_ticket_id, store_ticket
from policies.loader import load_policies
from worker import build_worker

TASK_QUEUE = "csops-shadow"
IN_FLIGHT = 24  # escalations routed at once: keeps a 2-core machine responsive
SAMPLES = 12
MAX_PAUSE = 0.5  # between two looks at a ticket still being routed
RUNNING = WorkflowExecutionStatus.RUNNING
ROUTES = ("answered", "human", "hot", "unsettled")


class ShadowInputError(Exception):
    """The run cannot start: no tickets, or an account that is not in the book."""


@dataclass
class ShadowTicket:
    """One ticket of the file at one account."""

    record: TicketRecord
    account: AccountFacts
    shadow_id: str  # its id in the shadow book: the file's, `@account` when several


@dataclass
class Routed:
    ticket: ShadowTicket
    state: EscalationState | None  # None: the route was not final in time
    reply: OutboxMessage | None = None  # what the customer would have read

    @property
    def route(self) -> str:
        if self.state is None:
            return "unsettled"
        if self.state.hot:
            return "hot"
        return "answered" if self.state.ticket_status == "answered" else "human"

    @property
    def reasons(self) -> list[str]:
        """Why it went where it went: the hot reasons, or why a human got it."""
        if self.state is None:
            return []
        return self.state.hot_reasons if self.state.hot else self.state.human_reasons

    @property
    def language(self) -> str:
        if self.state and self.state.assessment:
            return self.state.assessment.language
        return "unknown"


def size_of(account: AccountFacts) -> str:
    """The account's size as the autonomy policy sees it: segment, ARR, top 50."""
    arr = f"${account.arr / 1000:,.1f}K".replace(".0K", "K")
    return f"{account.segment} · ARR {arr}" + (" · top 50" if account.top_rank <= 50 else "")


def plan(
    source: Engine, parsed: Iterable[Parsed[TicketRecord]], account_ids: list[str]
) -> tuple[list[ShadowTicket], list[Parsed[TicketRecord]]]:
    """The tickets to route (each at every `account_ids` account, or at the account
    the file names) and the rows refused with their reason.

    Raises:
        ShadowInputError: an account is unknown, or no ticket can be routed.
    """
    facts: dict[str, AccountFacts] = {}

    def account(account_id: str) -> AccountFacts:
        if account_id not in facts:
            with session(source) as s:
                facts[account_id] = account_facts(s, account_id)
        return facts[account_id]

    for account_id in account_ids:
        try:
            account(account_id)
        except LookupError as err:
            raise ShadowInputError(f"--account {account_id}: {err}") from None
    tickets: list[ShadowTicket] = []
    refused: list[Parsed[TicketRecord]] = []
    for row in parsed:
        record = row.record
        if record is None:
            refused.append(row)
            continue
        try:
            check_ticket_id(record.id)
        except BadTicket as err:
            refused.append(Parsed(row.line, row.where, problem=str(err)))
            continue
        at = account_ids or ([record.account] if record.account else [])
        if not at:
            refused.append(Parsed(row.line, row.where, problem="no account: give --account ID"))
            continue
        for account_id in at:
            try:
                acc = account(account_id)
            except LookupError as err:
                refused.append(Parsed(row.line, row.where, problem=str(err)))
                continue
            shadow_id = record.id if len(at) == 1 else f"{record.id}@{account_id}"
            tickets.append(ShadowTicket(record, acc, shadow_id))
    if not tickets:
        first = f" (line {refused[0].line}: {refused[0].problem})" if refused else ""
        raise ShadowInputError(f"no ticket in the file can be routed{first}")
    return tickets, refused


def _book(source: Engine, out_dir: Path, tickets: list[ShadowTicket]) -> Engine:
    """A fresh context database for the run, holding the accounts and knowledge it reads."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for leftover in out_dir.glob("shadow.db*"):  # a previous run in the same folder
        leftover.unlink()
    engine = make_engine(f"sqlite:///{out_dir / 'shadow.db'}")
    copy_accounts(source, engine, {t.account.account_id for t in tickets})
    for t in tickets:
        r = t.record
        store_ticket(
            engine, t.shadow_id, t.account.account_id, r.subject or "(no subject)", r.body,
            created_at=r.created_at, priority=r.priority, tags=r.tags,
        )  # fmt: skip
    return engine


async def _settle(client: Client, t: ShadowTicket, timeout_s: float) -> EscalationState | None:
    """Start the ticket's escalation, wait until its route is final, stop it."""
    launch = await start_escalation(client, TASK_QUEUE, t.shadow_id, t.record.subject, t.account)
    handle: WorkflowHandle = launch.handle
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    state: EscalationState | None = None
    pause = 0.05  # short at first: most tickets are routed within a second
    while loop.time() < deadline:
        try:
            state = await handle.query(names.ESCALATION_STATE_QUERY, result_type=EscalationState)
        except (RPCError, WorkflowQueryFailedError):
            state = None  # no workflow task has run yet
        if state and state.routed:
            break
        if pause >= MAX_PAUSE and (await handle.describe()).status != RUNNING:
            # It closed between two looks: one last look says whether it was routed
            # (answered alone) or ended without a route (failed: unsettled).
            state = await _closed_state(handle)
            break
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, MAX_PAUSE)
    else:
        state = None
    try:
        await handle.terminate("shadow run: route recorded, nothing more is done")
    except RPCError:
        pass  # it finished on its own (answered alone)
    return state


async def _closed_state(handle: WorkflowHandle) -> EscalationState | None:
    try:
        state = await handle.query(names.ESCALATION_STATE_QUERY, result_type=EscalationState)
    except (RPCError, WorkflowQueryFailedError):
        return None
    return state if state.routed else None


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr while a child process is started, so the
    child's output never mixes with what this process prints (e.g. --json)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


async def route_all(
    settings: Settings,
    book: Engine,
    tickets: list[ShadowTicket],
    provider: OpenAIProvider | None,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 120,
) -> list[Routed]:
    """Every ticket through the real worker on a dev server of the run's own."""
    with _stdout_to_stderr():  # the server prints its banner; stdout is the report's
        env = await WorkflowEnvironment.start_local(
            # Terminating a workflow mid-task makes the SDK core warn that the task is
            # gone; that is this run working as intended, so only errors are shown.
            runtime=Runtime(
                telemetry=TelemetryConfig(
                    logging=LoggingConfig(
                        filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                    )
                )
            ),
            dev_server_existing_path=find_binary("temporal"),
            search_attributes=sa.ALL,
            data_converter=data_converter(settings.codec_keys),
            dev_server_extra_args=DEV_SERVER_TUNING,
            dev_server_log_level="error",
        )
    gate = asyncio.Semaphore(IN_FLIGHT)
    done = 0

    async def one(t: ShadowTicket) -> Routed:
        nonlocal done
        async with gate:
            state = await _settle(env.client, t, timeout_s)
        done += 1
        if progress:
            progress(done, len(tickets))
        return Routed(t, state)

    async with env:
        with ThreadPoolExecutor(max_workers=16) as executor:
            worker = build_worker(env.client, TASK_QUEUE, book, provider, executor, settings)
            async with worker:
                routed = await asyncio.gather(*(one(t) for t in tickets))
    _attach_replies(book, routed)
    return list(routed)


def _attach_replies(book: Engine, routed: list[Routed]) -> None:
    """The customer message each answered ticket produced; every outbox row is
    marked `shadow` so no delivery loop would ever pick it up."""
    with session(book) as s:
        s.exec(update(OutboxMessage).values(status="shadow"))
        s.commit()
        replies = {
            m.workflow_id: m
            for m in s.exec(
                select(OutboxMessage).where(col(OutboxMessage.audience) == "customer")
            ).all()
        }
    for r in routed:
        r.reply = replies.get(f"escalation/{r.ticket.shadow_id}")


@dataclass
class ShadowReport:
    file: str
    out_dir: Path
    engine: str
    policy_version: str
    routed: list[Routed]
    refused: list[Parsed[TicketRecord]] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        accounts = {r.ticket.account.account_id: r.ticket.account for r in self.routed}
        totals = Counter(r.route for r in self.routed)
        reasons = {
            route: Counter(
                reason_kind(reason)
                for r in self.routed
                if r.route == route
                for reason in dict.fromkeys(r.reasons)
            ).most_common()
            for route in ("human", "hot")
        }
        cells: dict[tuple[str, str, str], Counter] = {}
        for r in self.routed:
            key = (size_of(r.ticket.account), r.ticket.record.priority or "none", r.language)
            cells.setdefault(key, Counter())[r.route] += 1
        return {
            "file": self.file,
            "out_dir": str(self.out_dir),
            "engine": self.engine,
            "policy_version": self.policy_version,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "tickets": len(self.routed),
            "totals": {route: totals.get(route, 0) for route in ROUTES},
            "strategic": sum(bool(r.state and r.state.strategic) for r in self.routed),
            # tickets per reason (one ticket can have several)
            "reasons": {route: dict(counts) for route, counts in reasons.items()},
            "accounts": [
                {
                    "account_id": a.account_id,
                    "name": a.name,
                    "segment": a.segment,
                    "arr": a.arr,
                    "top_rank": a.top_rank,
                    "size": size_of(a),
                }  # fmt: skip
                for a in accounts.values()
            ],
            "breakdown": [
                {
                    "account_size": size,
                    "priority": priority,
                    "language": language,
                    "total": sum(c.values()),
                    **{route: c.get(route, 0) for route in ROUTES},
                }  # fmt: skip
                for (size, priority, language), c in sorted(cells.items())
            ],
            "samples": [_sample(r) for r in samples(self.routed)],
            "routes": [_route(r) for r in self.routed],
            "refused": [
                {"where": p.where, "line": p.line, "reason": p.problem} for p in self.refused
            ],
        }


def reason_kind(reason: str) -> str:
    """A reason without its particulars, so reasons can be counted: reasons read
    "what: particulars" ("the draft step failed: HTTP 500", "confidence below 0.6: 0.40")."""
    return reason.partition(": ")[0]


def samples(routed: list[Routed], n: int = SAMPLES) -> list[Routed]:
    """Replies the agent would send alone, spread over languages and accounts."""
    by_key: dict[tuple[str, str], list[Routed]] = {}
    for r in routed:
        if r.route == "answered" and r.reply is not None:
            by_key.setdefault((r.language, r.ticket.account.account_id), []).append(r)
    picked: list[Routed] = []
    while len(picked) < n and any(by_key.values()):
        for group in by_key.values():
            if group and len(picked) < n:
                picked.append(group.pop(0))
    return picked


def _sample(r: Routed) -> dict[str, Any]:
    assert r.reply is not None and r.state is not None
    return {
        "ticket_id": r.ticket.record.id,
        "account_id": r.ticket.account.account_id,
        "language": r.language,
        "subject": r.ticket.record.subject,
        "question": r.ticket.record.body,
        "reply_subject": r.reply.subject,
        "reply": r.reply.body,
        "sources": [s.model_dump(mode="json") for s in r.state.sources],
    }


def _route(r: Routed) -> dict[str, Any]:
    s = r.state
    return {
        "ticket_id": r.ticket.record.id,
        "shadow_id": r.ticket.shadow_id,
        "account_id": r.ticket.account.account_id,
        "priority": r.ticket.record.priority,
        "language": r.language,
        "route": r.route,
        "action": s.action if s else None,
        "autonomy": s.autonomy.value if s else None,
        "reasons": r.reasons,
        "risks": s.assessment.risks if s and s.assessment else [],
        "sources": [ref.model_dump(mode="json") for ref in s.sources] if s else [],
        "strategic": s.strategic if s else None,
        "stage": s.stage if s else "not routed in time",
    }


async def run_shadow(
    settings: Settings,
    source: Engine,
    file: Path,
    parsed: Iterable[Parsed[TicketRecord]],
    account_ids: list[str],
    out_dir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> ShadowReport:
    """Route the file's tickets in shadow and write report.json and report.html
    to `out_dir` (beside shadow.db, the run's own context database).

    Raises:
        ShadowInputError: see `plan`.
        PolicyError: the policy files do not load.
    """
    policies = load_policies(settings.policy_dir)
    tickets, refused = plan(source, parsed, account_ids)
    provider = OpenAIProvider.from_settings(settings)
    book = _book(source, out_dir, tickets)
    try:
        routed = await route_all(settings, book, tickets, provider, progress)
    finally:
        book.dispose()
    report = ShadowReport(
        file=str(file),
        out_dir=out_dir,
        engine=provider.label if provider else "offline",
        policy_version=policies.version,
        routed=routed,
        refused=refused,
    )
    data = report.as_dict()
    write_atomic(out_dir / "report.json", json.dumps(data, indent=2, ensure_ascii=False))
    write_atomic(out_dir / "report.html", render("artifacts/shadow_report.html.j2", r=data))
    return report
