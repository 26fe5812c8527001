"""Starting workflows: business-key IDs, static summary/details and the
account's search attributes, the same for the CLI, schedules and tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from csops import search_attributes as sa
from csops.models import AccountFacts, EscalationInput, OnboardingInput, RenewalPackageInput


def escalation_id(ticket_id: str) -> str:
    return f"escalation/{ticket_id}"


def onboarding_id(account_id: str) -> str:
    return f"onboarding/{account_id}"


def renewal_id(account_id: str, renewal_date: date) -> str:
    return f"renewal/{account_id}/{renewal_date.isoformat()}"


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


def _account_line(account: AccountFacts) -> str:
    return (f"**Account** {account.name} (`{account.account_id}`) · {account.segment} · "
            f"ARR ${account.arr:,.0f} · plan {account.plan} · CSM {account.owner_csm}")


@dataclass
class Launch:
    handle: WorkflowHandle
    started: bool  # False: one already ran or runs for this business key


async def _start(client: Client, run, arg, *, workflow_id: str, task_queue: str,
                 account: AccountFacts, reuse: WorkflowIDReusePolicy, summary: str,
                 purpose: str) -> Launch:
    """Start by business key; the key already taken means attach, never duplicate."""
    try:
        handle = await client.start_workflow(
            run, arg, id=workflow_id, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=reuse,
            search_attributes=account_attributes(account),
            static_summary=summary[:200],
            static_details=f"{_account_line(account)}\n\n{purpose}",
        )
        return Launch(handle, True)
    except WorkflowAlreadyStartedError:
        return Launch(client.get_workflow_handle(workflow_id), False)


async def start_escalation(
    client: Client, task_queue: str, ticket_id: str, subject: str, account: AccountFacts
) -> Launch:
    """Route a ticket once: a running or finished escalation is never redone."""
    from workflows.escalation import EscalationWorkflow

    return await _start(
        client, EscalationWorkflow.run, EscalationInput(ticket_id=ticket_id),
        workflow_id=escalation_id(ticket_id), task_queue=task_queue, account=account,
        reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        summary=f"Escalation {ticket_id} · {account.name}: {subject}",
        purpose=(f"Routes support ticket `{ticket_id}`: assess it, apply the autonomy policy, "
                 "and bring in a human where the policy says so."),
    )


async def start_onboarding(client: Client, task_queue: str, account: AccountFacts) -> Launch:
    """Start the account's 30-day plan; if one already runs, report it and start nothing."""
    from workflows.onboarding import OnboardingWorkflow

    return await _start(
        client, OnboardingWorkflow.run, OnboardingInput(account_id=account.account_id),
        workflow_id=onboarding_id(account.account_id), task_queue=task_queue, account=account,
        # A finished onboarding stays finished; only a failed one may be redone.
        reuse=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        summary=f"Onboarding · {account.name} ({account.segment})",
        purpose=(f"Runs the {account.segment} 30-day onboarding plan from "
                 "policies/onboarding.yaml: milestones, activation checks on usage, "
                 "interventions, and the day-30 review."),
    )


async def start_renewal_package(
    client: Client, task_queue: str, account: AccountFacts, renewal_date: date | None = None
) -> Launch:
    """Start the pre-call package for one renewal; never a second one for it."""
    from workflows.renewal import RenewalPackageWorkflow

    renewal_date = renewal_date or account.renewal_date
    return await _start(
        client, RenewalPackageWorkflow.run,
        RenewalPackageInput(account_id=account.account_id, renewal_date=renewal_date),
        workflow_id=renewal_id(account.account_id, renewal_date), task_queue=task_queue,
        account=account, reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        summary=f"Renewal package · {account.name} · renews {renewal_date}",
        purpose=(f"Assembles the pre-call package for the {renewal_date} renewal (usage, ROI, "
                 "risk, expansion, decision makers), asks the CSM to decide the pricing "
                 "(copilot) and leaves signing to a human (off-limits)."),
    )
