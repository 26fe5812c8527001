"""Reads from the context layer and the policy files, as activities."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from context.db import session
from context.queries import NotFound, account_facts, ticket_context, usage_value
from csops.models import AccountFacts, TicketContext, UsageCheckInput, UsageCheckResult
from policies.loader import PolicyError, load_policies
from policies.model import PolicySet


class PullTicketContextInput(BaseModel):
    ticket_id: str


class PullAccountInput(BaseModel):
    account_id: str


class ContextActivities:
    """Synchronous DB reads; the worker runs them on its thread pool."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="pull_ticket_context")
    def pull_ticket_context(self, inp: PullTicketContextInput) -> TicketContext:
        with session(self._engine) as s:
            try:
                return ticket_context(s, inp.ticket_id)
            except NotFound as err:
                # Retrying will not make the ticket appear.
                raise ApplicationError(str(err), type="NotFound", non_retryable=True) from err

    @activity.defn(name="pull_account_facts")
    def pull_account_facts(self, inp: PullAccountInput) -> AccountFacts:
        with session(self._engine) as s:
            try:
                return account_facts(s, inp.account_id)
            except NotFound as err:
                raise ApplicationError(str(err), type="NotFound", non_retryable=True) from err

    @activity.defn(name="check_usage")
    def check_usage(self, inp: UsageCheckInput) -> UsageCheckResult:
        """An activation check: the account's real usage over the window."""
        with session(self._engine) as s:
            value = usage_value(s, inp.account_id, inp.feature, inp.measure, inp.since, inp.until)
        return UsageCheckResult(feature=inp.feature, measure=inp.measure, value=value,
                                at_least=inp.at_least, met=value >= inp.at_least)

    @activity.defn(name="load_policies")
    def load_policies(self) -> PolicySet:
        """The policy snapshot a workflow decides with; it lands in history, so
        replays decide the same way even after the files change."""
        try:
            return load_policies()
        except PolicyError as err:
            raise ApplicationError(str(err), type="PolicyError", non_retryable=True) from err
