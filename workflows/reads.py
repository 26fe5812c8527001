"""What every workflow reads first: the policy snapshot and the account."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.context_pulls import ContextActivities
    from contracts.accounts import AccountFacts, PullAccountInput
    from contracts.escalation import PullTicketContextInput, TicketContext
    from policies.model import PolicySet, shared_snapshot

from workflows.options import RECORD_RETRY, RECORD_TIMEOUT, activity_runner


async def policy_snapshot(local: bool = False) -> PolicySet:
    """The policies as they are now; kept in history, so the workflow decides by
    them until it ends, whatever happens to the files. Workflows of the same version
    share one decoded copy."""
    snapshot = await activity_runner(local)(
        ContextActivities.load_policies,
        summary="load policy snapshot",
        start_to_close_timeout=RECORD_TIMEOUT,
        retry_policy=RECORD_RETRY,
    )
    return shared_snapshot(snapshot)


async def account_facts(account_id: str, local: bool = False) -> AccountFacts:
    return await activity_runner(local)(
        ContextActivities.pull_account_facts,
        PullAccountInput(account_id=account_id),
        summary=f"pull account {account_id}",
        start_to_close_timeout=RECORD_TIMEOUT,
        retry_policy=RECORD_RETRY,
    )


async def ticket_reads(ticket_id: str) -> tuple[PolicySet, TicketContext]:
    """The policy snapshot (shared, as `policy_snapshot`) and the ticket's context,
    read by one local activity."""
    first = await workflow.execute_local_activity_method(
        ContextActivities.pull_ticket_reads,
        PullTicketContextInput(ticket_id=ticket_id),
        summary=f"load policy snapshot, pull context for {ticket_id}",
        start_to_close_timeout=RECORD_TIMEOUT,
        retry_policy=RECORD_RETRY,
    )
    return shared_snapshot(first.policies), first.context
