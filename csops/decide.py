"""Deciding what waits for a human from the command line: one request, or every
request an approver may decide, through the `decide` update."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import FailureError
from temporalio.service import RPCError

from adapters.inbox import collect_inbox
from contracts import names
from contracts.human import ALLOWED_DECISIONS, DecideInput, DecideResult


class DecisionRefused(Exception):
    """The workflow refused the decision; the message says why."""


class Target(BaseModel):
    workflow_id: str
    request_id: str
    title: str = ""


class Outcome(BaseModel):
    """What became of one decision: its new status, or why it was refused."""

    workflow_id: str
    request_id: str
    status: str | None = None
    approver: str | None = None
    refused: str | None = None

    def as_dict(self) -> dict[str, str]:
        # The CLI's --json shape: a refusal carries `refused`, a decision its status.
        return self.model_dump(exclude_none=True)


async def send_decision(client: Client, workflow_id: str, decision: DecideInput) -> DecideResult:
    """The `decide` update; a refusal comes back as DecisionRefused with the reason."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(names.DECIDE, decision, result_type=DecideResult)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        raise DecisionRefused(
            cause.message if isinstance(cause, FailureError) else str(err)
        ) from err
    except RPCError as err:
        raise DecisionRefused(f"{workflow_id}: {err.message}") from err


async def open_for(
    client: Client, approver: str, decision: str, account: str | None = None
) -> list[Target]:
    """Every open request `approver` may decide that `decision` fits."""
    items = await collect_inbox(client, approver, account)
    return [
        Target(workflow_id=i.workflow_id, request_id=i.request.request_id, title=i.request.title)
        for i in items
        if decision in ALLOWED_DECISIONS[i.request.kind]
    ]


async def decide_each(
    client: Client,
    targets: list[Target],
    decision: str,
    approver: str,
    text: str | None = None,
    note: str | None = None,
    reason: str | None = None,
) -> list[Outcome]:
    """Send the decision to each target in turn; a refusal does not stop the rest."""
    outcomes = []
    for t in targets:
        try:
            r = await send_decision(
                client,
                t.workflow_id,
                DecideInput.model_validate(
                    {
                        "request_id": t.request_id,
                        "decision": decision,
                        "approver": approver,
                        "text": text,
                        "note": note,
                        "reason": reason,
                    }
                ),
            )
            outcomes.append(
                Outcome(
                    workflow_id=t.workflow_id,
                    request_id=t.request_id,
                    status=r.status,
                    approver=r.approver,
                )
            )
        except DecisionRefused as err:
            outcomes.append(
                Outcome(workflow_id=t.workflow_id, request_id=t.request_id, refused=str(err))
            )
    return outcomes
