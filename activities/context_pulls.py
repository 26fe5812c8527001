"""Reads from the context layer and the policy files, as activities."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from context.db import session
from context.queries import NotFound, ticket_context
from csops.models import TicketContext
from policies.loader import PolicyError, load_policies
from policies.model import PolicySet


class PullTicketContextInput(BaseModel):
    ticket_id: str


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

    @activity.defn(name="load_policies")
    def load_policies(self) -> PolicySet:
        """The policy snapshot a workflow decides with; it lands in history, so
        replays decide the same way even after the files change."""
        try:
            return load_policies()
        except PolicyError as err:
            raise ApplicationError(str(err), type="PolicyError", non_retryable=True) from err
