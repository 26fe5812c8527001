"""Chaos: real components, real crashes.

The real `temporal` dev server on its SQLite file (csops' flags), `csops worker` as
real subprocesses configured by environment, a real SMTP server in this process,
and a mixed workload: hot and routine tickets, onboardings (enterprise ones wait
for a human from day 0) and renewal packages. Workers are SIGKILLed at random
moments and started again, two workers share the queue and the outbox, the server
is stopped (SIGTERM, then SIGKILL) and started again on its file; meanwhile CSMs
decide what they see, when they get to it. Then, waiting on conditions only:

- every workflow completed or waits as it should: decided requests closed, the
  others still open, onboardings idle on their timers;
- no `WorkflowTaskFailed` event in any workflow's history;
- no Message-ID received twice by the SMTP server; every outbox row sent, except
  at most one per killed worker left `sending` (the claim lease window), none of
  those received twice;
- every accepted decision audited once, as `<workflow>/<request>/<status>`.

Random moments come from `random.Random(seed)`: a failure names the seed, and
`CSOPS_CHAOS_SEED=N` draws the same moments and decisions again (what the machine
is doing at those moments still varies).

How long a case takes is set by csops' activity timeouts: an activity a killed
worker had started is tried again only when its start-to-close timeout runs out
(records 30 s, model calls 90 s, renewal sections 2 min; workflows/options.py).
So the first wave of work, renewal packages included, is routed before the first
crash; in the first case a second wave of tickets and onboardings is routed
while the worker keeps dying.

The last test makes one crash happen every time instead of by chance: a worker
killed while the SMTP server holds its first message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlmodel import select
from support.data import CSM, HOT_TEXT, HOW_TO, add_account, add_ticket, outbox
from support.polling import eventually
from support.processes import (
    Child,
    DevServer,
    Processes,
    start_dev_server,
    start_worker,
    wait_until_polling,
    worker_env,
)
from support.temporal import (
    decide,
    human_history,
    human_requests,
    new_ticket_id,
    start_escalation,
    start_onboarding,
    start_renewal_package,
    workflow_task_failures,
)
from temporalio.api.enums.v1 import EventType, PendingActivityState, PendingWorkflowTaskState
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from activities.records import queue_message
from adapters.delivery import message_id
from context.db import session
from context.tables import AuditEvent
from contracts.escalation import EscalationResult
from contracts.human import STATUS_FOR_DECISION, HumanRequestView
from contracts.records import OutboundMessage
from contracts.renewal import RenewalPackageResult

RUNNING = WorkflowExecutionStatus.RUNNING
COMPLETED = WorkflowExecutionStatus.COMPLETED
QUERY_TIMEOUT = timedelta(seconds=5)
# The longest an interrupted activity waits is a model call's 90 s timeout, plus
# the workflow task that follows; with room for a loaded machine.
SETTLE_S = 150
# adapters/delivery.SmtpChannel's timeout: the longest a live dispatcher holds a claim.
SMTP_TIMEOUT_S = 10
# A case that overruns fails with its timeline at CASE_DEADLINE_S, before pytest's
# own timeout would stop it without one.
CASE_DEADLINE_S = 270
CASE_TIMEOUT_S = CASE_DEADLINE_S + 60


@dataclass(frozen=True)
class Flow:
    """One workflow of the workload, and the requests it opens on its first day."""

    workflow_id: str
    kind: str  # hot | alone | copilot | onboarding | renewal
    requests: frozenset[str]
    completes: bool  # closes once every request is decided (onboardings run 30 days)


@dataclass
class Decision:
    workflow_id: str
    request_id: str
    decision: str
    approver: str
    text: str | None = None
    status: str | None = None  # what the workflow answered
    refused: str | None = None
    resends: list[str] = field(default_factory=list)


class Chaos:
    """A workload on a real server, what was done to it, and what must hold after."""

    def __init__(
        self, seed: int, name: str, server: DevServer, client: Client, env: dict[str, str],
        tmp_path, processes: Processes, db, smtp,
    ) -> None:  # fmt: skip
        self.seed, self.name = seed, name
        # The crash schedule is a stream of its own: the same whatever people decide.
        self.chaos_rng = random.Random(f"{seed}/chaos")
        self.server, self.client, self.env = server, client, env
        self.task_queue = env["CSOPS_TASK_QUEUE"]
        self.tmp_path, self.processes, self.db, self.smtp = tmp_path, processes, db, smtp
        self.flows: dict[str, Flow] = {}
        self.decisions: dict[tuple[str, str], Decision] = {}
        self.in_flight: list[asyncio.Task] = []  # decisions sent, answered or not
        self.humans: list[asyncio.Task] | None = None  # while humans are at work
        self.will_decide, self.decide_within_s = 0.0, 0.0  # see humans_at_work
        self.workers: list[Child] = []
        self.worker_kills: list[datetime] = []
        self.server_restarts: list[str] = []
        self.restarted_after_server = 0
        self.interrupted: Counter[str] = Counter()  # what the crashes left in histories
        self.started = time.monotonic()
        self.timeline: list[str] = []
        self._last_problems: list[str] = []

    def note(self, what: str) -> None:
        self.timeline.append(f"{time.monotonic() - self.started:6.1f}s {what}")

    @asynccontextmanager
    async def explained(self):
        """A failure names the seed, what happened when, and the end of every log."""
        try:
            async with asyncio.timeout(CASE_DEADLINE_S):  # fails here, with the story
                yield
        except Exception as err:
            rerun = f"CSOPS_CHAOS_SEED={self.seed} .venv/bin/python -m pytest -q tests/test_chaos.py::{self.name}"  # fmt: skip
            raise AssertionError(
                f"chaos seed {self.seed} (rerun: {rerun}): {type(err).__name__}: {err}\n"
                f"{self.summary()}\n{self.processes.logs()}"
            ) from err
        finally:
            # Nobody keeps deciding once the case is over, whatever its outcome.
            tasks = [*self.in_flight, *(self.humans or [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        print(self.summary())

    # ------------------------------------------------------------------ workload

    def seed_accounts(self) -> None:
        add_account(self.db, "acc-small", arr=20_000, top_rank=180)
        add_account(self.db, "acc-top", arr=400_000, segment="enterprise", top_rank=12)
        add_account(self.db, "acc-new-smb", arr=18_000, stage="new")
        add_account(self.db, "acc-new-mid", arr=120_000, segment="mid_market", top_rank=60,
                    stage="new")  # fmt: skip
        for n, arr in ((1, 650_000), (2, 500_000)):
            add_account(self.db, f"acc-new-ent{n}", arr=arr, segment="enterprise", top_rank=n,
                        stage="new")  # fmt: skip
        add_account(self.db, "acc-renew-mid", arr=80_000, segment="mid_market", top_rank=70)
        add_account(self.db, "acc-renew-ent", arr=300_000, segment="enterprise", top_rank=20)

    async def launch_tickets(self, hot: int, alone: int, copilot: int) -> None:
        """Hot tickets wait for an ack; a how-to at a small account is answered
        alone; the same how-to at a top-50 account waits for approval."""
        tickets = (
            [("hot", "acc-small", ("Down again", HOT_TEXT))] * (hot // 2)
            + [("hot", "acc-top", ("Down again", HOT_TEXT))] * (hot - hot // 2)
            + [("alone", "acc-small", HOW_TO)] * alone
            + [("copilot", "acc-top", HOW_TO)] * copilot
        )
        opens = {"hot": {"ack-1"}, "alone": set(), "copilot": {"approval-1"}}
        for kind, account, (subject, body) in tickets:
            ticket = new_ticket_id()
            add_ticket(self.db, ticket, account, subject, body)
            handle = await start_escalation(self.db, self.client, self.task_queue, ticket)
            self._add(handle.id, kind, opens[kind], completes=True)

    async def launch_onboardings(self, *account_ids: str) -> None:
        for account_id in account_ids:
            handle = await start_onboarding(self.db, self.client, self.task_queue, account_id)
            human_led = "-ent" in account_id  # the kickoff task and the welcome approval
            self._add(handle.id, "onboarding", {"task-1", "approval-1"} if human_led else set(),
                      completes=False)  # fmt: skip

    async def launch_renewals(self, *account_ids: str) -> None:
        for account_id in account_ids:
            handle = await start_renewal_package(self.db, self.client, self.task_queue, account_id)
            # Pricing is a copilot approval, signing an off-limits task.
            self._add(handle.id, "renewal", {"approval-1", "task-1"}, completes=True)

    def _add(self, workflow_id: str, kind: str, requests: set[str], completes: bool) -> None:
        self.flows[workflow_id] = flow = Flow(workflow_id, kind, frozenset(requests), completes)
        self.note(f"started {workflow_id} ({kind})")
        self._hire(flow)

    # ------------------------------------------------------------------ processes

    async def start_worker(self) -> Child:
        worker = start_worker(
            self.processes, f"worker-{len(self.workers) + 1}", self.env, self.tmp_path
        )
        self.workers.append(worker)
        await self.polling(worker)
        return worker

    async def polling(self, worker: Child) -> None:
        await wait_until_polling(self.client, self.task_queue, worker)
        self.note(f"{worker.name} (pid {worker.pid}) polls")

    async def kill_and_restart(self, worker: Child) -> None:
        """SIGKILL at this moment, whatever it was doing; then the same command again."""
        assert worker.alive, f"{worker.name} died on its own:\n{worker.tail()}"
        worker.stop(signal.SIGKILL)
        self.worker_kills.append(datetime.now(UTC))
        self.note(f"SIGKILL {worker.name}")
        worker.start()
        await self.polling(worker)

    async def restart_server(self, sig: signal.Signals) -> None:
        """Stop the server with `sig`, leave it down a random while (workers, CSMs and
        the test keep calling it), start it on the same SQLite file and port. Every
        worker must poll it again: one that exited is started again (counted in the
        summary); one alive but not polling fails the test."""
        down_s = self.chaos_rng.uniform(0.5, 3)
        self.note(f"server: {sig.name}, down for {down_s:.1f} s")
        self.client = await self.server.restart(sig, down_s)
        self.server_restarts.append(sig.name)
        self.note("server answers again")
        for worker in self.workers:
            if not worker.alive:
                self.restarted_after_server += 1
                self.note(f"{worker.name} had exited with {worker.exit_code}: started again")
                worker.start()
            await self.polling(worker)

    async def pause(self, low: float, high: float) -> None:
        """Until a random moment: what the processes are doing then is up to them."""
        await asyncio.sleep(self.chaos_rng.uniform(low, high))

    # ------------------------------------------------------------------ humans

    @asynccontextmanager
    async def humans_at_work(self, will_decide: float = 0.7, within_s: float = 8):
        """CSMs look at each workflow's open requests (the `human_requests` query) and
        decide each one they see with probability `will_decide`, at a random moment
        up to `within_s` later, through the `decide` update: they neither know nor
        care whether a worker is alive then. Out of the block nobody decides more;
        decisions already sent are awaited by `check`."""
        self.humans = []
        self.will_decide, self.decide_within_s = will_decide, within_s
        for flow in list(self.flows.values()):
            self._hire(flow)
        try:
            yield
        finally:
            tasks, self.humans = self.humans, None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _hire(self, flow: Flow) -> None:
        """Someone to look after this workflow's requests, with a random stream of their own."""
        if self.humans is not None and flow.requests:
            rng = random.Random(f"{self.seed}/humans/{flow.kind}/{len(self.humans)}")
            self.humans.append(asyncio.create_task(self._look_after(flow, rng)))

    async def _look_after(self, flow: Flow, rng: random.Random) -> None:
        seen: set[str] = set()
        while seen < flow.requests:
            for r in await self._open(flow.workflow_id) or []:
                if r.request_id not in seen:
                    seen.add(r.request_id)
                    if rng.random() < self.will_decide and self.humans is not None:
                        self.humans.append(asyncio.create_task(self._decide_later(flow, r, rng)))
            await asyncio.sleep(rng.uniform(0.3, 1.5))

    async def _open(self, workflow_id: str) -> list[HumanRequestView] | None:
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            return await human_requests(handle, rpc_timeout=QUERY_TIMEOUT)
        except Exception:
            return None  # no worker answers for it right now: look again later

    async def _decide_later(self, flow: Flow, r: HumanRequestView, rng: random.Random) -> None:
        choices = {"ack": ["ack"], "task": ["done"]}.get(r.kind, ["approve", "reject", "edit"])
        d = Decision(flow.workflow_id, r.request_id, rng.choice(choices),
                     rng.choice(r.eligible_approvers))  # fmt: skip
        if d.decision == "edit":
            d.text = f"Hi Sam, edited by {d.approver} under chaos seed {self.seed}."
        await asyncio.sleep(rng.uniform(0, self.decide_within_s))
        self.decisions[(d.workflow_id, d.request_id)] = d
        self.note(f"decide {d.workflow_id} {d.request_id}: {d.decision} as {d.approver}")
        # Not one of the humans' tasks: a decision sent is followed until it is answered.
        self.in_flight.append(asyncio.create_task(self._send(d)))

    async def _send(self, d: Decision) -> None:
        """The `decide` update, sent again with the same update id while the server
        or every worker is away (the server answers one update id once)."""
        update_id = f"chaos/{d.workflow_id}/{d.request_id}"
        while True:
            handle = self.client.get_workflow_handle(d.workflow_id)
            try:
                result = await decide(
                    handle, update_id=update_id, request_id=d.request_id, decision=d.decision,
                    approver=d.approver, text=d.text, note=f"chaos {self.seed}",
                )  # fmt: skip
            except WorkflowUpdateFailedError as err:
                d.refused = str(err.cause or err)
                return
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the case is over: the SDK reports our own cancel as its error
                d.resends.append(f"{type(err).__name__}: {err}"[:200])
                await asyncio.sleep(0.5)
                continue
            d.status = result.status
            self.note(f"decided {d.workflow_id} {d.request_id}: {d.status}")
            return

    # ------------------------------------------------------------------ waiting

    def expected_open(self, flow: Flow) -> set[str]:
        return {r for r in flow.requests if (flow.workflow_id, r) not in self.decisions}

    async def unsettled(self) -> list[str]:
        """What is not yet as it should be (empty: every workflow settled)."""
        problems = []
        for flow in self.flows.values():
            if problem := await self._unsettled(flow):
                await self._no_failed_tasks(flow.workflow_id)
                problems.append(f"{flow.workflow_id} ({flow.kind}): {problem}")
        if problems and problems != self._last_problems:
            self.note(f"unsettled: {problems}")
        self._last_problems = problems
        return problems

    async def _unsettled(self, flow: Flow) -> str | None:
        handle = self.client.get_workflow_handle(flow.workflow_id)
        try:
            desc = await handle.describe()
        except RPCError as err:  # a server starting up
            return str(err)
        waits = self.expected_open(flow)
        # A reply the workflow waits to hear was delivered, stranded `sending` by a
        # killed worker until the claim lease runs out: the workflow rightly waits.
        stranded = self.stranded(flow.workflow_id, confirm_only=True)
        want = COMPLETED if flow.completes and not waits and not stranded else RUNNING
        busy = _pending_work(desc.raw_description)
        if desc.status != want:
            # What it is busy with, or which of its messages are where, says why.
            rows = {r.idempotency_key: r.status for r in outbox(self.db, flow.workflow_id)}
            return f"{desc.status.name} not {want.name}: {busy or 'idle'}; outbox {rows}"
        if want == COMPLETED:
            return None
        if busy:
            return busy
        try:
            open_now = {r.request_id for r in await human_requests(handle, QUERY_TIMEOUT)}
        except Exception as err:
            return f"human_requests: {err}"
        if open_now != waits:
            return f"open {sorted(open_now)}, want {sorted(waits)}"
        return None

    async def _no_failed_tasks(self, workflow_id: str) -> None:
        """A workflow that is not where it should be may be failing its workflow
        tasks (a replay that does not match its history, say): fail at once with the
        failure instead of waiting for a settlement that never comes."""
        handle = self.client.get_workflow_handle(workflow_id)
        with contextlib.suppress(RPCError):  # a server starting up: next time
            if failed := await workflow_task_failures(handle):
                attrs = failed[-1].workflow_task_failed_event_attributes
                raise AssertionError(
                    f"{workflow_id}: WorkflowTaskFailed (event {failed[-1].event_id}, "
                    f"{len(failed)} in its history): {attrs.failure.message[:500]}"
                )

    async def quiet(self, what: str) -> None:
        await eventually(self.unsettled, SETTLE_S, holds=lambda p: not p, every_s=0.5, what=what)
        self.note(what)

    def _stranded(self, row) -> bool:
        """A row still `sending` that a killed worker had claimed: claimed before the
        last kill, and longer ago than a live dispatcher can take to hand one message
        over (SMTP_TIMEOUT_S). It waits for the claim lease (adapters/delivery.py)."""
        last_kill = max(self.worker_kills, default=datetime.min.replace(tzinfo=UTC))
        recent = datetime.now(UTC) - timedelta(seconds=SMTP_TIMEOUT_S + 5)
        return row.status == "sending" and _utc(row.claimed_at) <= min(last_kill, recent)

    def stranded(self, workflow_id: str, confirm_only: bool = False) -> list[str]:
        """The keys of the workflow's stranded rows (only those it waits to hear of)."""
        return [
            r.idempotency_key
            for r in outbox(self.db, workflow_id)
            if self._stranded(r) and (r.confirm or not confirm_only)
        ]

    def outbox_unsettled(self) -> list[str]:
        """Every row delivered, except what a killed worker stranded `sending`."""
        problems = []
        for row in outbox(self.db):
            if row.status == "pending":
                problems.append(f"{row.idempotency_key}: pending")
            elif row.status == "sending" and not self._stranded(row):
                problems.append(f"{row.idempotency_key}: sending (a live worker may be on it)")
        return problems

    async def settle(self) -> None:
        self.note("settling")

        async def unanswered() -> list[str]:
            await self.unsettled()  # notes progress; fails at once on a failed task
            for t in self.in_flight:
                if t.done():
                    t.result()  # an unexpected error in a sender surfaces here
            return [
                f"{d.workflow_id} {d.request_id}" + (f" ({d.resends[-1]})" if d.resends else "")
                for d in self.decisions.values()
                if d.status is None and d.refused is None
            ]

        await eventually(unanswered, SETTLE_S, holds=lambda u: not u, every_s=1,
                         what="every decision answered")  # fmt: skip
        refused = {k: d.refused for k, d in self.decisions.items() if d.refused}
        assert not refused, f"decisions refused: {refused}"
        self.note("every decision answered")
        await self.quiet("every workflow completed or waiting as it should")
        await eventually(
            self.outbox_unsettled, 30 + SMTP_TIMEOUT_S, holds=lambda p: not p, every_s=0.5,
            what="every outbox row delivered",
        )  # fmt: skip

    # ------------------------------------------------------------------ checks

    async def check(self) -> None:
        await self.settle()
        await self.check_histories()
        self.check_deliveries()
        await self.check_audit()
        await self.check_outcomes()

    async def check_histories(self) -> None:
        """No workflow task failed, in any workflow on the server."""

        async def listed() -> set[str]:
            return {w.id async for w in self.client.list_workflows()}

        # Beside those the test started: the review of each sampled supervised send
        # (`review/{its outbox key}`), which the sending workflow starts.
        expected = set(self.flows) | {
            f"review/{r.idempotency_key}" for r in outbox(self.db) if r.sampled_for_review
        }
        ids = await eventually(listed, 30, holds=lambda ids: ids >= expected, every_s=0.5)
        assert ids == expected, f"workflows nobody started: {ids - expected}"
        failed = {}
        for workflow_id in sorted(ids):
            handle = self.client.get_workflow_handle(workflow_id)
            self.interrupted.update(
                [_interruption(e) async for e in handle.fetch_history_events() if _interruption(e)]
            )  # fmt: skip
            if events := await workflow_task_failures(handle):
                failed[workflow_id] = [
                    (e.event_id, e.workflow_task_failed_event_attributes.cause,
                     e.workflow_task_failed_event_attributes.failure.message[:300])
                    for e in events
                ]  # fmt: skip
        assert not failed, f"WorkflowTaskFailed events: {failed}"

    def check_deliveries(self) -> None:
        """Each message reached the SMTP server once, and is recorded as sent."""
        received = self.smtp.message_ids()
        twice = {mid: n for mid, n in received.items() if n > 1}
        assert not twice, f"Message-IDs received more than once: {twice}"
        rows = outbox(self.db)
        statuses = Counter(r.status for r in rows)
        assert set(statuses) <= {"sent", "sending"}, statuses
        # A dispatcher killed while handing a message to the channel leaves that one
        # message `sending` until the claim lease runs out (adapters/delivery.py).
        stranded = [(r.idempotency_key, str(r.claimed_at)) for r in rows if r.status == "sending"]
        assert len(stranded) <= len(self.worker_kills), (
            f"{len(stranded)} outbox rows left 'sending' by {len(self.worker_kills)} killed "
            f"worker(s), for the 5-minute claim lease: {stranded}"
        )
        ids = {message_id(r.idempotency_key) for r in rows}
        assert set(received) <= ids, f"messages no outbox row queued: {set(received) - ids}"
        lost = [r.idempotency_key for r in rows
                if r.status == "sent" and message_id(r.idempotency_key) not in received]  # fmt: skip
        assert not lost, f"marked sent, never received: {lost}"

    async def check_audit(self) -> None:
        """Every request audited when opened; each one decided audited once, with
        its decision and the person who made it; nothing else closed it."""
        with session(self.db) as s:
            rows = {e.idempotency_key: e for e in s.exec(select(AuditEvent)).all()}
        for flow in self.flows.values():
            history = await human_history(self.client.get_workflow_handle(flow.workflow_id))
            requests = {r["request_id"]: r for r in history["requests"]}
            assert set(requests) == set(flow.requests), (flow.workflow_id, sorted(requests))
            for rid, r in requests.items():
                key = f"{flow.workflow_id}/{rid}"
                assert f"{key}/requested" in rows, f"{key}: its request was not audited"
                closed = [k for k in rows if k.startswith(f"{key}/") and k != f"{key}/requested"]
                d = self.decisions.get((flow.workflow_id, rid))
                if d is None:
                    assert (r["status"], closed) == ("open", []), (key, r["status"], closed)
                    continue
                assert d.status == STATUS_FOR_DECISION[d.decision], d
                assert (r["status"], r["decided_by"]) == (d.status, d.approver), (key, r, d)
                assert closed == [f"{key}/{d.status}"], (key, closed, d)
                assert rows[closed[0]].actor == d.approver, (rows[closed[0]], d)

    async def check_outcomes(self) -> None:
        """What the workflows returned and queued is what the decisions called for."""
        for flow in self.flows.values():
            messages = outbox(self.db, flow.workflow_id)
            steps = [m.idempotency_key.removeprefix(f"{flow.workflow_id}/") for m in messages]
            customer = [m for m in messages if m.audience == "customer"]
            decided = {rid: d for (wf, rid), d in self.decisions.items() if wf == flow.workflow_id}
            if flow.kind == "hot":
                assert steps[:1] == ["hot/notify"] and not customer, (flow.workflow_id, steps)
            elif flow.kind == "onboarding":
                welcome = decided.get("approval-1")
                sent = not flow.requests or (welcome and welcome.status in ("approved", "edited"))
                assert ("welcome/message" in steps) == bool(sent), (flow.workflow_id, steps)
            if flow.kind in ("hot", "copilot", "alone") and flow.workflow_id in self._completed():
                result = await self._result(flow, EscalationResult)
                if flow.kind == "alone":
                    assert result.outcome in ("sent", "sent_sampled"), result
                    assert [m.idempotency_key.rsplit("/", 1)[1] for m in customer] == ["reply"]
                    continue
                d = decided["ack-1" if flow.kind == "hot" else "approval-1"]
                assert result.outcome == d.status, (result.outcome, d)
                replied = [m.body for m in customer]
                if d.status == "edited":
                    assert replied == [d.text], (flow.workflow_id, replied)
                else:
                    assert len(replied) == int(d.status == "approved"), (flow.workflow_id, steps)
            if flow.kind == "renewal" and flow.workflow_id in self._completed():
                result = await self._result(flow, RenewalPackageResult)
                assert (result.pricing_status, result.signing_task_status) == (
                    decided["approval-1"].status, decided["task-1"].status,
                )  # fmt: skip
                assert not customer, steps  # the agent sends nothing to the customer

    async def _result(self, flow: Flow, result_type):
        return await self.client.get_workflow_handle(
            flow.workflow_id, result_type=result_type
        ).result()

    def _completed(self) -> set[str]:
        return {f.workflow_id for f in self.flows.values() if f.completes and not self.expected_open(f)}  # fmt: skip

    def summary(self) -> str:
        received = sum(self.smtp.message_ids().values())
        answered = sum(1 for d in self.decisions.values() if d.status)
        resends = sum(len(d.resends) for d in self.decisions.values())
        open_left = sum(len(self.expected_open(f)) for f in self.flows.values())
        return (
            f"{self.name}: seed {self.seed}, {len(self.flows)} workflows, "
            f"{len(self.worker_kills)} worker kill(s), server restarts {self.server_restarts} "
            f"({self.restarted_after_server} worker(s) had exited), {answered} decisions "
            f"answered ({resends} resends), {open_left} requests left open, {received} "
            f"messages received; left in histories: {dict(self.interrupted)}; "
            f"{time.monotonic() - self.started:.1f} s\n" + "\n".join(self.timeline)
        )


def _pending_work(raw) -> str:
    """What a running workflow is still doing (empty: it waits for time or people)."""
    work = sorted(
        f"activity {a.activity_type.name} {PendingActivityState.Name(a.state)} attempt {a.attempt}"
        for a in raw.pending_activities
    )
    if raw.HasField("pending_workflow_task"):
        task = raw.pending_workflow_task
        work.append(f"workflow task {PendingWorkflowTaskState.Name(task.state)} attempt {task.attempt}")  # fmt: skip
    return "; ".join(work)


def _interruption(event) -> str | None:
    """What a crash leaves in a history: a workflow task that timed out on the dead
    process, an activity started again after its timeout ran out."""
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        return "workflow task timed out"
    if (
        event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.attempt > 1
    ):
        return "activity retried"
    return None


def _utc(at: datetime | None) -> datetime:
    assert at is not None
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite keeps no zone


@pytest_asyncio.fixture
async def chaos(request, tmp_path, processes, db, knowledge, smtp_server) -> Chaos:
    """A dev server on a SQLite file in tmp_path, the accounts, and a `Chaos` to
    drive; the seed is CSOPS_CHAOS_SEED or a fresh one."""
    seed = int(os.environ.get("CSOPS_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    collector, smtp_port = smtp_server
    server = start_dev_server(processes, tmp_path / "temporal")
    client = await server.client()
    env = worker_env(tmp_path, server.address, knowledge_dir=knowledge.index.folder,
                     delivery=f"smtp://127.0.0.1:{smtp_port}")  # fmt: skip
    chaos = Chaos(seed, request.node.name, server, client, env, tmp_path, processes, db,
                  collector)  # fmt: skip
    chaos.seed_accounts()
    return chaos


@pytest.mark.timeout(CASE_TIMEOUT_S)
async def test_a_worker_killed_at_random_moments_loses_nothing_and_sends_nothing_twice(chaos):
    async with chaos.explained():
        worker = await chaos.start_worker()
        await chaos.launch_tickets(hot=2, alone=1, copilot=2)
        await chaos.launch_onboardings("acc-new-smb", "acc-new-ent1")
        await chaos.launch_renewals("acc-renew-mid", "acc-renew-ent")
        await chaos.quiet("first wave routed")
        async with chaos.humans_at_work():
            for kill in range(3):
                await chaos.pause(0.5, 8)
                await chaos.kill_and_restart(worker)
                if kill == 0:  # routed while the worker keeps dying
                    await chaos.launch_tickets(hot=2, alone=1, copilot=1)
                    await chaos.launch_onboardings("acc-new-mid", "acc-new-ent2")
            await chaos.pause(2, 6)
        await chaos.check()
        assert len(chaos.worker_kills) == 3


@pytest.mark.timeout(CASE_TIMEOUT_S)
async def test_two_workers_share_the_queue_and_the_outbox_while_one_keeps_dying(chaos):
    async with chaos.explained():
        workers = [await chaos.start_worker(), await chaos.start_worker()]
        await chaos.launch_tickets(hot=3, alone=2, copilot=2)
        await chaos.launch_onboardings("acc-new-smb", "acc-new-mid", "acc-new-ent1")
        await chaos.launch_renewals("acc-renew-mid", "acc-renew-ent")
        await chaos.quiet("first wave routed")
        async with chaos.humans_at_work():
            for _ in range(2):
                await chaos.pause(0.5, 6)
                await chaos.kill_and_restart(chaos.chaos_rng.choice(workers))
            await chaos.launch_tickets(hot=1, alone=0, copilot=1)
            await chaos.launch_onboardings("acc-new-ent2")
            await chaos.pause(2, 6)
        await chaos.check()
        assert len(chaos.worker_kills) == 2 and all(w.alive for w in workers)


@pytest.mark.timeout(CASE_TIMEOUT_S)
async def test_the_server_restarted_on_its_sqlite_file_resumes_everything(chaos):
    async with chaos.explained():
        await chaos.start_worker()
        await chaos.launch_tickets(hot=2, alone=1, copilot=2)
        await chaos.launch_onboardings("acc-new-smb", "acc-new-ent1")
        await chaos.launch_renewals("acc-renew-mid", "acc-renew-ent")
        await chaos.quiet("first wave routed")
        async with chaos.humans_at_work():
            await chaos.pause(0.5, 5)
            await chaos.restart_server(signal.SIGTERM)
            await chaos.launch_tickets(hot=2, alone=1, copilot=1)
            await chaos.launch_onboardings("acc-new-mid", "acc-new-ent2")
            await chaos.pause(0.5, 5)
            await chaos.restart_server(signal.SIGKILL)
            await chaos.pause(2, 6)
        await chaos.check()
        assert chaos.server_restarts == ["SIGTERM", "SIGKILL"]


@pytest.mark.timeout(120)
async def test_a_worker_killed_while_delivering_holds_back_only_the_message_it_was_handing_over(
    tmp_path, processes, db, knowledge, smtp_server
):
    """The outbox under a real crash, made to happen every time: the SMTP server
    keeps the first message and answers late, and the worker dies meanwhile. Only
    that message may wait for the claim lease (it may be received again then, with
    its Message-ID); the others go out as soon as a worker runs again."""
    collector, smtp_port = smtp_server
    server = start_dev_server(processes, tmp_path / "temporal")
    await server.client()
    for n in range(5):
        queue_message(db, OutboundMessage(
            idempotency_key=f"escalation/T-crash-{n}/hot/notify", workflow_id=f"escalation/T-crash-{n}",
            account_id="acc-1", audience="internal", to=[CSM], subject=f"HOT ticket {n}",
            body="A hot ticket waits for an ack.", created_at=datetime.now(UTC),
        ))  # fmt: skip
    collector.reply_after_s = 5  # under the channel's 10 s timeout: the worker waits
    env = worker_env(tmp_path, server.address, knowledge_dir=knowledge.index.folder,
                     delivery=f"smtp://127.0.0.1:{smtp_port}")  # fmt: skip
    worker = start_worker(processes, "worker", env, tmp_path)
    await eventually(collector.message_ids, 60, what="the first message at the SMTP server")
    worker.stop(signal.SIGKILL)  # while it waits for the server's 250

    statuses = {r.idempotency_key: r.status for r in outbox(db)}
    assert list(statuses.values()).count("sending") <= 1, (
        f"a dispatcher killed while handing over one message left {statuses} "
        "(rows in 'sending' wait for the 5-minute claim lease)"
    )
    collector.reply_after_s = 0
    worker.start()
    rows = await eventually(
        lambda: outbox(db), 30, holds=lambda rows: sum(r.status == "sent" for r in rows) >= 4,
        what="the four messages the dead worker never handed over, delivered",
    )  # fmt: skip
    assert [r.status for r in rows].count("sending") <= 1
    assert max(collector.message_ids().values()) == 1
