"""Reads from the context layer and the policy files, as activities."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from temporalio import activity

from activities.errors import permanent_not_found
from activities.records import queue_message
from context.db import session
from context.queries import account_facts, set_ticket_status, ticket_context, usage_value
from contracts.accounts import AccountFacts, PullAccountInput
from contracts.escalation import PullTicketContextInput, TicketContext, TicketStatusInput
from contracts.onboarding import UsageCheckInput, UsageCheckResult
from contracts.records import OutboundMessage
from policies.loader import PolicyError, load_policies
from policies.model import PolicySet

log = logging.getLogger("csops.policy")


class TicketReads(BaseModel):
    """What an escalation reads first, in one local activity (one result for the
    workflow to wait for, not two): the policy snapshot and the ticket's context."""

    policies: PolicySet
    context: TicketContext


class ContextActivities:
    """Synchronous DB reads; the worker runs them on its thread pool."""

    def __init__(self, engine: Engine, policy_dir: Path | None = None) -> None:
        self._engine = engine
        self._policy_dir = policy_dir
        # The policy in force: loaded now (a broken file stops the worker at start-up),
        # replaced by every version that loads, kept while the files are broken.
        self._in_force = load_policies(policy_dir)

    @activity.defn(name="pull_ticket_context")
    def pull_ticket_context(self, inp: PullTicketContextInput) -> TicketContext:
        with session(self._engine) as s, permanent_not_found():
            return ticket_context(s, inp.ticket_id)

    @activity.defn(name="pull_ticket_reads")
    def pull_ticket_reads(self, inp: PullTicketContextInput) -> TicketReads:
        """`load_policies` and `pull_ticket_context` in one call."""
        return TicketReads(policies=self.load_policies(), context=self.pull_ticket_context(inp))

    @activity.defn(name="record_ticket_status")
    def record_ticket_status(self, inp: TicketStatusInput) -> None:
        with self._engine.begin() as conn, permanent_not_found():
            set_ticket_status(conn, inp.ticket_id, inp.status, inp.answer, inp.source)

    @activity.defn(name="pull_account_facts")
    def pull_account_facts(self, inp: PullAccountInput) -> AccountFacts:
        with session(self._engine) as s, permanent_not_found():
            return account_facts(s, inp.account_id)

    @activity.defn(name="check_usage")
    def check_usage(self, inp: UsageCheckInput) -> UsageCheckResult:
        """An activation check: the account's real usage over the window."""
        with session(self._engine) as s:
            value = usage_value(s, inp.account_id, inp.feature, inp.measure, inp.since, inp.until)
        return UsageCheckResult(
            feature=inp.feature,
            measure=inp.measure,
            value=value,
            at_least=inp.at_least,
            met=value >= inp.at_least,
        )

    @activity.defn(name="load_policies")
    def load_policies(self) -> PolicySet:
        """The policy snapshot a workflow decides with; it lands in history, so
        replays decide the same way even after the files change.

        A file broken while the worker runs never fails a workflow: the last
        version that loaded stays in force, and the error is logged and sent to
        on-call once per broken version.
        """
        try:
            self._in_force = load_policies(self._policy_dir)
        except PolicyError as err:
            log.error("policy files are broken; policy %s stays in force: %s",
                      self._in_force.version, err)  # fmt: skip
            self._alert(str(err))
        return self._in_force

    def _alert(self, problem: str) -> None:
        digest = hashlib.sha256(problem.encode()).hexdigest()[:12]
        queue_message(
            self._engine,
            OutboundMessage(
                idempotency_key=f"policy/broken/{digest}",
                workflow_id="policy",
                account_id="",
                audience="internal",
                channel="chat",
                to=[self._in_force.routing.on_call],
                subject=f"[csops] policy files broken; {self._in_force.version} stays in force",
                body=f"{problem}\n\nRun `csops policy check` after fixing the files.",
                created_at=datetime.now(UTC),
            ),
        )
