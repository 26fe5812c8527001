"""Starting workflows: business-key IDs, static summary/details and the
account's search attributes, the same for the CLI, schedules and tests."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from csops import search_attributes as sa
from csops.models import AccountFacts, EscalationInput


def escalation_id(ticket_id: str) -> str:
    return f"escalation/{ticket_id}"


def account_attributes(account: AccountFacts) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.ACCOUNT_ID, account.account_id),
            SearchAttributePair(sa.SEGMENT, account.segment),
            SearchAttributePair(sa.ARR, account.arr),
            SearchAttributePair(sa.STAGE, "starting"),
            SearchAttributePair(sa.PENDING_APPROVALS, 0),
        ]
    )


@dataclass
class Launch:
    handle: WorkflowHandle
    started: bool  # False: one was already running for this business key


async def start_escalation(
    client: Client, task_queue: str, ticket_id: str, subject: str, account: AccountFacts
) -> Launch:
    """Start the escalation for a ticket; a second start for the same ticket attaches."""
    from workflows.escalation import EscalationWorkflow

    workflow_id = escalation_id(ticket_id)
    try:
        handle = await client.start_workflow(
            EscalationWorkflow.run,
            EscalationInput(ticket_id=ticket_id),
            id=workflow_id,
            task_queue=task_queue,
            # A ticket is routed once: a running or finished escalation is never redone.
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=account_attributes(account),
            static_summary=f"Escalation {ticket_id} · {account.name}: {subject}"[:200],
            static_details=(
                f"**Account** {account.name} (`{account.account_id}`) · {account.segment} · "
                f"ARR ${account.arr:,.0f} · owner {account.owner_csm}\n\n"
                f"Routes support ticket `{ticket_id}`: assess it, apply the autonomy policy, "
                "and bring in a human where the policy says so."
            ),
        )
        return Launch(handle, True)
    except WorkflowAlreadyStartedError:
        return Launch(client.get_workflow_handle(workflow_id), False)
