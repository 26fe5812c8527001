"""What a workflow does to the world, through activities: an audit row and a
message in the outbox. Both are keyed by workflow id + step, so a retry or a
replay never writes or sends twice."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import RecordActivities
    from contracts.autonomy import AutonomyDecision
    from contracts.records import AuditEntry, OutboundMessage

from workflows.options import RECORD_RETRY, RECORD_TIMEOUT, activity_runner


class AuditedHow(TypedDict, total=False):
    """How an audited action came about; all optional."""

    actor: str  # "agent" (the default), "policy" or a human's email
    decision: AutonomyDecision | None  # the policy decision that placed it
    engine: str | None  # the engine that wrote what was sent
    detail: dict[str, Any] | None


def audit_entry(
    account_id: str, key: str, action: str, outcome: str, **how: Unpack[AuditedHow]
) -> AuditEntry:
    """The audit row of one action: who did what, at which autonomy level, by which rule."""
    info = workflow.info()
    decision = how.get("decision")
    return AuditEntry(
        idempotency_key=f"{info.workflow_id}/{key}",
        at=workflow.now(),
        workflow_id=info.workflow_id,
        account_id=account_id,
        actor=how.get("actor", "agent"),
        action=action,
        outcome=outcome,
        autonomy=decision.level if decision else None,
        policy_rule=decision.rule if decision else None,
        policy_version=decision.policy_version if decision else None,
        engine=how.get("engine"),
        detail={**(how.get("detail") or {}), **_decision_detail(decision)},
    )


def _decision_detail(decision: AutonomyDecision | None) -> dict[str, Any]:
    """What a decision rested on, for `csops policy simulate` to re-evaluate it: its
    facts, and why the level moved right of the rule's (the re-evaluation applies
    those again)."""
    if decision is None or not decision.facts:
        return {}
    moved = {"adjustments": decision.adjustments} if decision.adjustments else {}
    return {"facts": decision.facts, **moved}


async def audit(
    account_id: str,
    key: str,
    action: str,
    outcome: str,
    *,
    local: bool = False,
    **how: Unpack[AuditedHow],
) -> None:
    """Write one audit row (`audit_entry`).

    Args:
        local: as a local activity (one quick insert: no task queue round trip and
            no workflow task of its own).
    """
    await record_audit(audit_entry(account_id, key, action, outcome, **how), local=local)


async def record_audit(entry: AuditEntry, *, local: bool = False) -> None:
    await activity_runner(local)(
        RecordActivities.record_audit,
        entry,
        summary=f"audit: {entry.action} {entry.outcome}",
        start_to_close_timeout=RECORD_TIMEOUT,
        retry_policy=RECORD_RETRY,
    )


def outbound(account_id: str, key: str, **message: Any) -> OutboundMessage:
    """One message for the outbox, keyed by workflow id + step (exactly once).

    Args:
        message: the remaining `OutboundMessage` fields (audience, to, subject, ...).
    """
    info = workflow.info()
    return OutboundMessage(
        idempotency_key=f"{info.workflow_id}/{key}",
        workflow_id=info.workflow_id,
        account_id=account_id,
        created_at=workflow.now(),
        **message,
    )


async def send(account_id: str, key: str, summary: str, **message: Any) -> None:
    """Put one message in the outbox (`outbound`)."""
    await workflow.execute_activity_method(
        RecordActivities.send_message,
        outbound(account_id, key, **message),
        summary=summary,
        start_to_close_timeout=RECORD_TIMEOUT,
        retry_policy=RECORD_RETRY,
    )
