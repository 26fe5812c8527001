"""Starting workflows: business-key ids, static summary/details and the account's
search attributes, the same for the CLI, Schedules, the sweep and the tests.

Workflows are started by their type name from contracts/, so nothing here (nor
the sweep activity that uses it) imports workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts import names
from contracts import search_attributes as sa
from contracts.accounts import AccountFacts
from contracts.escalation import EscalationInput, EscalationResult
from contracts.health import WatchFindings
from contracts.human import HumanRequest, ReviewInput, review_workflow_id
from contracts.ids import escalation_id, onboarding_id, renewal_id, watch_id
from contracts.investigation import InvestigationInput, InvestigationResult
from contracts.onboarding import OnboardingInput, OnboardingReview
from contracts.renewal import RenewalPackageInput, RenewalPackageResult
from contracts.watch import WatchState


@dataclass
class Launch:
    handle: WorkflowHandle[Any, Any]
    started: bool  # False: one already ran or runs for this business key


@dataclass(frozen=True)
class _Kind:
    """What is started, and whether its business key may be used again."""

    workflow: str
    result_type: type
    reuse: WorkflowIDReusePolicy


_ESCALATION = _Kind(
    names.ESCALATION_WORKFLOW, EscalationResult, WorkflowIDReusePolicy.REJECT_DUPLICATE
)
# A finished onboarding stays finished; only a failed one may be redone.
_ONBOARDING = _Kind(
    names.ONBOARDING_WORKFLOW, OnboardingReview, WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
)
_RENEWAL_PACKAGE = _Kind(
    names.RENEWAL_PACKAGE_WORKFLOW, RenewalPackageResult, WorkflowIDReusePolicy.REJECT_DUPLICATE
)
# One QBR narrative a quarter: only a failed one may be redone. An investigation id
# carries its second, so a second one is a second question.
_INVESTIGATION = _Kind(
    names.INVESTIGATION_WORKFLOW,
    InvestigationResult,
    WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
)
# One review per sent message, ever.
_REVIEW = _Kind(names.REVIEW_WORKFLOW, HumanRequest, WorkflowIDReusePolicy.REJECT_DUPLICATE)


def _shown(account: AccountFacts, summary: str, purpose: str) -> dict[str, Any]:
    """What a workflow about an account shows from its start: the account's search
    attributes, and the UI's static summary and details."""
    return {
        "search_attributes": sa.at_start(account),
        "static_summary": summary[:200],
        "static_details": f"**Account** {account.summary_line()}\n\n{purpose}",
    }


async def _start(
    client: Client,
    kind: _Kind,
    arg: BaseModel,
    workflow_id: str,
    task_queue: str,
    account: AccountFacts,
    summary: str,
    purpose: str,
) -> Launch:
    """Start by business key; the key already taken means attach, never duplicate."""
    try:
        handle = await client.start_workflow(
            kind.workflow,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            result_type=kind.result_type,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=kind.reuse,
            **_shown(account, summary, purpose),
        )
        return Launch(handle, True)
    except WorkflowAlreadyStartedError:
        return Launch(client.get_workflow_handle(workflow_id, result_type=kind.result_type), False)


async def start_escalation(
    client: Client, task_queue: str, ticket_id: str, subject: str, account: AccountFacts
) -> Launch:
    """Route a ticket once: a running or finished escalation is never redone."""
    summary = f"Escalation {ticket_id} · {account.name}: {subject}"
    purpose = (
        f"Routes support ticket `{ticket_id}`: assess it, apply the autonomy policy, "
        "and bring in a human where the policy says so."
    )
    arg = EscalationInput(ticket_id=ticket_id)
    workflow_id = escalation_id(ticket_id)
    return await _start(
        client, _ESCALATION, arg, workflow_id, task_queue, account, summary, purpose
    )


async def start_onboarding(client: Client, task_queue: str, account: AccountFacts) -> Launch:
    """Start the account's 30-day plan; if one already runs, report it and start nothing."""
    summary = f"Onboarding · {account.name} ({account.segment})"
    purpose = (
        f"Runs the {account.segment} 30-day onboarding plan from policies/onboarding.yaml: "
        "milestones, activation checks on usage, interventions, and the day-30 review."
    )
    arg = OnboardingInput(account_id=account.account_id)
    workflow_id = onboarding_id(account.account_id)
    return await _start(
        client, _ONBOARDING, arg, workflow_id, task_queue, account, summary, purpose
    )


async def start_renewal_package(
    client: Client, task_queue: str, account: AccountFacts, renewal_date: date | None = None
) -> Launch:
    """Start the pre-call package for one renewal; never a second one for it."""
    renewal_date = renewal_date or account.renewal_date
    summary = f"Renewal package · {account.name} · renews {renewal_date}"
    purpose = (
        f"Assembles the pre-call package for the {renewal_date} renewal (usage, ROI, "
        "risk, expansion, decision makers), asks the CSM to decide the pricing "
        "(copilot) and leaves signing to a human (off-limits)."
    )
    arg = RenewalPackageInput(account_id=account.account_id, renewal_date=renewal_date)
    workflow_id = renewal_id(account.account_id, renewal_date)
    return await _start(
        client, _RENEWAL_PACKAGE, arg, workflow_id, task_queue, account, summary, purpose
    )


async def signal_watch(
    client: Client, task_queue: str, account: AccountFacts, findings: WatchFindings
) -> None:
    """Tell the account's watch what tonight's health sweep found, starting the watch
    on its first night (signal-with-start: one watch per account, never two)."""
    await client.start_workflow(
        names.ACCOUNT_WATCH_WORKFLOW,
        WatchState(account_id=account.account_id),
        id=watch_id(account.account_id),
        task_queue=task_queue,
        start_signal=names.HEALTH_SCORED_SIGNAL,
        start_signal_args=[findings],
        # A watch that was stopped (terminated, failed) is started again.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        # Tonight's score, also when the sweep backfills a day before the latest stored.
        **_shown(
            account.model_copy(update={"health": findings.health.score}),
            f"Account watch · {account.name}",
            "Watches the account every night: its health score (search attribute "
            "CsopsHealth), the Risk agent's alerts, summaries, CSM tasks and internal "
            "tickets, and the Growth agent's expansion plays, each at the autonomy "
            "policy's level.",
        ),
    )


async def start_investigation(
    client: Client,
    task_queue: str,
    account: AccountFacts,
    inp: InvestigationInput,
    workflow_id: str,
) -> Launch:
    """Start an investigation (or the quarter's QBR narrative); one already started
    under the id is attached to, never redone."""
    qbr = inp.mode == "qbr"
    summary = (
        f"Executive QBR narrative · {account.name} · {inp.quarter}"
        if qbr
        else f"Investigation · {account.name}" + (f": {inp.question}" if inp.question else "")
    )
    purpose = (
        f"Gathers the last {inp.days} days of evidence (usage by week, tickets, CRM notes, "
        "calls, NPS, contacts, health) and synthesises it as claims citing that evidence"
        + (
            "; drafts the executive QBR narrative for the account team to decide (copilot)."
            if qbr
            else "."
        )
    )
    return await _start(
        client, _INVESTIGATION, inp, workflow_id, task_queue, account, summary, purpose
    )


async def start_review(client: Client, task_queue: str, inp: ReviewInput) -> Launch:
    """Open the review of one sampled supervised send (once per message)."""
    summary = f"Review · {inp.account.name} · {inp.decision.action}: {inp.subject}"
    purpose = (
        f"The agent sent `{inp.reviewed}` at {inp.decision.level.value} and the policy "
        "sampled it: the reviewers grade it good or bad (with a reason), or it expires "
        "quietly after the policy's window."
    )
    workflow_id = review_workflow_id(inp.reviewed)
    return await _start(
        client, _REVIEW, inp, workflow_id, task_queue, inp.account, summary, purpose
    )
