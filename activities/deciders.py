"""Who sent a decision: the identity Temporal recorded on the `decide` signal or
update, read from the workflow's own history and compared with the payload's
`approver`. Workflow code cannot see a signal's sender; its history can."""

from __future__ import annotations

from temporalio import activity
from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from contracts import names
from contracts.human import DeciderCheck, DeciderCheckInput
from policies.addresses import email_address


def judge_identity(identity: str, approver: str) -> tuple[bool, str | None]:
    """(verified, problem). An identity that is an email address must be the
    approver's own: that is a person deciding in someone else's name. Any other
    identity (the UI without login, an SDK's `pid@host`) proves nothing either way:
    the decision stands, unverified, and the audit says so."""
    try:
        sender = email_address(identity)
    except ValueError:
        return False, None
    try:
        claimed = email_address(approver)
    except ValueError:
        claimed = approver
    if sender.lower() == claimed.lower():
        return True, None
    return False, (
        f"sent by {identity}, not by {approver}: a decision is made in one's own name only"
    )


class DeciderActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="check_decider")
    async def check_decider(self, inp: DeciderCheckInput) -> DeciderCheck:
        """The sender of the decision; read-only, so retries are harmless."""
        handle = self._client.get_workflow_handle(inp.workflow_id, run_id=inp.run_id)
        found: tuple[int, str] | None = None
        async for event in handle.fetch_history_events():
            if inp.update_id is not None:
                accepted = _update_sender(event, inp.update_id)
                if accepted:
                    found = accepted
                    break
            elif inp.up_to_event and event.event_id > inp.up_to_event:
                break
            elif event.event_id not in inp.used_events:
                sent = await self._signal_sender(event, inp)
                # The last such signal: a refused earlier one with the same payload
                # (sent before the request could take it) is not this decision.
                found = sent or found
        if found is None:
            what = f"update {inp.update_id}" if inp.update_id else "signal"
            return DeciderCheck(
                identity="",
                event_id=0,
                verified=False,
                problem=f"the {what} carrying this decision is not in the workflow's history",
            )
        event_id, identity = found
        verified, problem = judge_identity(identity, inp.approver)
        return DeciderCheck(
            identity=identity, event_id=event_id, verified=verified, problem=problem
        )

    async def _signal_sender(
        self, event: HistoryEvent, inp: DeciderCheckInput
    ) -> tuple[int, str] | None:
        if not event.HasField("workflow_execution_signaled_event_attributes"):
            return None
        attrs = event.workflow_execution_signaled_event_attributes
        if attrs.signal_name != names.DECIDE or not await self._carries(attrs.input, inp):
            return None
        return event.event_id, attrs.identity

    async def _carries(self, payloads: Payloads, inp: DeciderCheckInput) -> bool:
        """Whether the signal's one argument is this decision (codec applied)."""
        if len(payloads.payloads) != 1:
            return False
        try:
            [data] = await self._client.data_converter.decode(payloads.payloads)
        except Exception:  # noqa: BLE001 (an undecodable signal carries no decision)
            return False
        return isinstance(data, dict) and (
            data.get("request_id"),
            data.get("decision"),
            data.get("approver"),
        ) == (inp.request_id, inp.decision, inp.approver)


def _update_sender(event: HistoryEvent, update_id: str) -> tuple[int, str] | None:
    if not event.HasField("workflow_execution_update_accepted_event_attributes"):
        return None
    meta = event.workflow_execution_update_accepted_event_attributes.accepted_request.meta
    return (event.event_id, meta.identity) if meta.update_id == update_id else None
