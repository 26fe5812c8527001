"""What waits for a human across every running workflow: found through the
search attributes, read through each workflow's `human_requests` query."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecution, WorkflowQueryFailedError
from temporalio.service import RPCError

from contracts import names
from contracts import search_attributes as sa
from contracts.human import HumanRequestView, InboxItem, urgency_of

log = logging.getLogger("csops.inbox")
QUERY_TIMEOUT = timedelta(seconds=5)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def inbox_query(approver: str | None = None, account: str | None = None) -> str:
    """The visibility query a CSM can also paste into the UI's workflow list."""
    parts = ["ExecutionStatus = 'Running'", f"{sa.PENDING_APPROVALS.name} > 0"]
    if approver:
        parts.append(f"{sa.APPROVERS.name} = {_quote(approver)}")
    if account:
        parts.append(f"{sa.ACCOUNT_ID.name} = {_quote(account)}")
    return " AND ".join(parts)


async def collect_inbox(
    client: Client,
    approver: str | None = None,
    account: str | None = None,
    now: datetime | None = None,
    silent: list[str] | None = None,
) -> list[InboxItem]:
    """Every open request the approver may decide, most urgent first: hot
    acknowledgements, then overdue requests, then by due time; `now` (default: the
    clock) decides what is overdue. A workflow that does not answer its query is
    left out: its id goes to `silent` when given, else to the log."""
    executions = [e async for e in client.list_workflows(inbox_query(approver, account))]

    async def open_requests(execution: WorkflowExecution) -> list[InboxItem]:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            requests = await handle.query(
                names.HUMAN_REQUESTS_QUERY,
                result_type=list[HumanRequestView],
                rpc_timeout=QUERY_TIMEOUT,
            )
        except (RPCError, WorkflowQueryFailedError) as err:
            # Closed since the listing, or no worker answers for it right now: one
            # silent workflow must not hold up everyone's inbox.
            if silent is None:
                log.warning("inbox: no answer from %s (%s)", execution.id, err)
            else:
                silent.append(execution.id)
            return []
        at = now or datetime.now(UTC)
        return [
            InboxItem(
                workflow_id=execution.id,
                workflow_type=execution.workflow_type,
                account_id=execution.typed_search_attributes.get(sa.ACCOUNT_ID),
                request=r,
                age_minutes=round((at - r.created_at).total_seconds() / 60, 1),
                urgency=urgency_of(r, at),
            )
            for r in requests
            if approver is None or approver.lower() in (a.lower() for a in r.eligible_approvers)
        ]

    found = await asyncio.gather(*(open_requests(e) for e in executions))
    return sorted((i for items in found for i in items), key=InboxItem.rank)
