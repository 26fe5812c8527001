"""The human-decision protocol, written once and mixed into every workflow.

- query `human_requests`: the open requests, each with a ready-to-paste payload;
- signal `decide` (for the Temporal UI): a bad payload never fails the workflow
  task; it is recorded as refused, shown in the current details, and the
  workflow keeps waiting;
- update `decide` (for the CLI and programs): same payload, a validator rejects
  bad input with a clear message;
- current details in Markdown and the search attributes kept true at every step;
- per request: reminder, escalation to the manager, then expiry with the safe
  default (nothing is done, `expired` is recorded). Never auto-approved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.records import RecordActivities
    from csops import search_attributes as sa
    from csops.models import (
        ALLOWED_DECISIONS,
        AccountFacts,
        AuditEntry,
        AutonomyDecision,
        DecideInput,
        DecideResult,
        HumanRequest,
        HumanRequestView,
        OutboundMessage,
        Refusal,
        RequestKind,
    )

STATUS_FOR_DECISION = {
    "approve": "approved",
    "reject": "rejected",
    "edit": "edited",
    "ack": "acked",
    "done": "done",
}
RECORD_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
MAX_REFUSALS_KEPT = 20


@dataclass(frozen=True)
class Ladder:
    """When a request is due, reminded, escalated to the manager and expired,
    counted from its creation."""

    due: timedelta
    remind: timedelta
    escalate: timedelta
    expire: timedelta


def _fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


class HumanDecisions:
    """Mixin for workflows that ask humans. The workflow sets `self.account`,
    `self.stage` and overrides `details_header()`; it calls `ask()` to wait."""

    def __init__(self) -> None:
        self.account: AccountFacts | None = None
        self.stage = "starting"
        self.requests: dict[str, HumanRequest] = {}
        self.refusals: list[Refusal] = []
        self._published_attributes: tuple | None = None

    # ------------------------------------------------------------------ handlers

    @workflow.query(name="human_requests")
    def human_requests(self) -> list[HumanRequestView]:
        return [
            HumanRequestView(
                request_id=r.request_id,
                kind=r.kind,
                action=r.action,
                autonomy=r.autonomy,
                title=r.title,
                draft=r.draft,
                eligible_approvers=r.eligible_approvers,
                due_at=r.due_at,
                expire_at=r.expire_at,
                created_at=r.created_at,
                signal_payload=r.signal_payload(),
            )
            for r in self.requests.values()
            if r.status == "open"
        ]

    @workflow.query(name="human_history")
    def human_history(self) -> dict:
        """Every request (open and closed) and every refused signal."""
        return {
            "requests": [r.model_dump(mode="json") for r in self.requests.values()],
            "refusals": [r.model_dump(mode="json") for r in self.refusals],
        }

    @workflow.signal(name="decide")
    def decide_signal(self, raw: RawValue) -> None:
        # Raw payload: decoding it ourselves means a malformed one is refused and
        # shown, instead of being dropped by the SDK before we ever see it.
        inp, problem = self.parse_decision(raw)
        if problem:
            self._refuse(problem, raw.payload.data.decode("utf-8", errors="replace")[:500])
            return
        self._apply(inp)

    @workflow.update(name="decide")
    def decide_update(self, raw: RawValue) -> DecideResult:
        inp, _ = self.parse_decision(raw)
        req = self._apply(inp)
        return DecideResult(request_id=req.request_id, status=req.status, approver=inp.approver)

    @decide_update.validator
    def _validate_decide(self, raw: RawValue) -> None:
        # Raw here too, so a malformed payload gets the same clear reason as the signal.
        _, problem = self.parse_decision(raw)
        if problem:
            raise ValueError(problem)

    # ------------------------------------------------------------------ decisions

    def parse_decision(self, raw: RawValue) -> tuple[DecideInput | None, str | None]:
        """The decision in a raw `decide` payload, or why it cannot be applied."""
        try:
            data = workflow.payload_converter().from_payload(raw.payload)
        except Exception:  # noqa: BLE001 (any decoding failure is the sender's error)
            return None, "not valid JSON"
        try:
            inp = DecideInput.model_validate(data)
        except ValidationError as err:
            fields = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in err.errors()
            )
            return None, f"malformed payload ({fields})"
        return inp, self.decision_problem(inp)

    def decision_problem(self, inp: DecideInput) -> str | None:
        """Why this decision cannot be applied, or None when it can."""
        req = self.requests.get(inp.request_id)
        if req is None:
            known = ", ".join(self.requests) or "none"
            return f"unknown request {inp.request_id!r} (requests on this workflow: {known})"
        if req.status != "open":
            return (
                f"request {req.request_id!r} is already closed: {req.status}"
                + (f" by {req.decided_by}" if req.decided_by else "")
            )
        if inp.approver.lower() not in (a.lower() for a in req.eligible_approvers):
            return (
                f"{inp.approver} may not decide {req.request_id!r}; "
                f"eligible: {', '.join(req.eligible_approvers)}"
            )
        allowed = ALLOWED_DECISIONS[req.kind]
        if inp.decision not in allowed:
            return (
                f"decision {inp.decision!r} does not apply to {'an' if req.kind[0] in 'aeiou' else 'a'}"
                f" {req.kind} request; "
                f"use {' or '.join(allowed)}"
            )
        if inp.decision == "edit" and not (inp.text or "").strip():
            return "an edit needs the edited draft in `text`"
        return None

    def _apply(self, inp: DecideInput) -> HumanRequest:
        req = self.requests[inp.request_id]
        req.status = STATUS_FOR_DECISION[inp.decision]
        req.decided_by = inp.approver
        req.decided_at = workflow.now()
        req.note = inp.note
        req.final_text = inp.text if inp.decision == "edit" else req.draft
        self.publish()
        return req

    def _refuse(self, reason: str, payload: str) -> None:
        workflow.logger.warning("refused decide signal: %s", reason)
        self.refusals = [
            *self.refusals[-(MAX_REFUSALS_KEPT - 1) :],
            Refusal(at=workflow.now(), reason=reason, payload=payload),
        ]
        self.publish()

    # ------------------------------------------------------------------ asking

    def next_request_id(self, kind: RequestKind) -> str:
        """Short, pasteable and deterministic: ack-1, approval-2, task-1."""
        return f"{kind}-{sum(1 for r in self.requests.values() if r.kind == kind) + 1}"

    async def ask(
        self,
        *,
        kind: RequestKind,
        decision: AutonomyDecision,
        title: str,
        approvers: list[str],
        ladder: Ladder,
        draft: str | None = None,
        notify: bool = True,
        request_id: str | None = None,
    ) -> HumanRequest:
        """Open a request and wait until a human closes it or it expires.

        Timers: reminder to the approvers, then escalation to the manager, then
        expiry. Expiry is the safe default: nothing is done on the human's behalf.
        """
        now = workflow.now()
        request_id = request_id or self.next_request_id(kind)
        req = HumanRequest(
            request_id=request_id,
            kind=kind,
            action=decision.action,
            autonomy=decision.level,
            title=title,
            draft=draft,
            eligible_approvers=list(dict.fromkeys(approvers)),
            created_at=now,
            due_at=now + ladder.due,
            remind_at=now + ladder.remind,
            escalate_at=now + ladder.escalate,
            expire_at=now + ladder.expire,
        )
        self.requests[request_id] = req
        self.publish()
        await self.audit(f"{request_id}/requested", req.action, "requested", decision=decision,
                         detail={"kind": kind, "approvers": req.eligible_approvers})
        if notify:
            await self._notify(req, "new", req.eligible_approvers)

        for step, at in (("reminder", req.remind_at), ("escalation", req.escalate_at),
                         ("expiry", req.expire_at)):
            if await self._closed_by(req, at, step):
                break
            if step == "reminder":
                req.reminded = True
                await self._notify(req, "reminder", req.eligible_approvers)
            elif step == "escalation" and self.account:
                req.escalated = True
                req.eligible_approvers = list(dict.fromkeys([*req.eligible_approvers,
                                                             self.account.manager]))
                self.publish()
                await self._notify(req, "escalation", [self.account.manager])
            elif step == "expiry":
                req.status = "expired"
                req.decided_at = workflow.now()
                self.publish()

        await self.audit(
            f"{request_id}/{req.status}",
            req.action,
            req.status,
            actor=req.decided_by or ("agent" if req.status == "withdrawn" else "policy"),
            decision=decision,
            detail={"note": req.note, "edited": req.status == "edited"},
        )
        return req

    async def _closed_by(self, req: HumanRequest, at: datetime, step: str) -> bool:
        remaining = at - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: req.status != "open",
                    timeout=remaining,
                    timeout_summary=f"{step} for {req.request_id} at {_fmt(at)}",
                )
            except TimeoutError:
                pass
        return req.status != "open"

    # ------------------------------------------------------------------ side effects

    async def audit(
        self,
        key: str,
        action: str,
        outcome: str,
        *,
        actor: str = "agent",
        decision: AutonomyDecision | None = None,
        engine: str | None = None,
        detail: dict | None = None,
    ) -> None:
        info = workflow.info()
        await workflow.execute_activity_method(
            RecordActivities.record_audit,
            AuditEntry(
                idempotency_key=f"{info.workflow_id}/{key}",
                at=workflow.now(),
                workflow_id=info.workflow_id,
                account_id=self.account.account_id if self.account else "",
                actor=actor,
                action=action,
                outcome=outcome,
                autonomy=decision.level if decision else None,
                policy_rule=decision.rule if decision else None,
                policy_version=decision.policy_version if decision else None,
                engine=engine,
                detail=detail or {},
            ),
            summary=f"audit: {action} {outcome}",
            **RECORD_OPTIONS,
        )

    async def send(self, key: str, summary: str, **message) -> None:
        """Put one message in the outbox, keyed by workflow id + step (exactly once)."""
        info = workflow.info()
        await workflow.execute_activity_method(
            RecordActivities.send_message,
            OutboundMessage(
                idempotency_key=f"{info.workflow_id}/{key}",
                workflow_id=info.workflow_id,
                account_id=self.account.account_id if self.account else "",
                created_at=workflow.now(),
                **message,
            ),
            summary=summary,
            **RECORD_OPTIONS,
        )

    async def _notify(self, req: HumanRequest, stage: str, to: list[str]) -> None:
        payload = req.signal_payload()
        label = {"new": "Needs you", "reminder": "Reminder", "escalation": "Escalated"}[stage]
        await self.send(
            f"{req.request_id}/{stage}",
            f"notify {', '.join(to)}: {stage} for {req.request_id}",
            audience="internal",
            to=to,
            subject=f"[csops] {label}: {req.title}",
            template="messages/human_request.md.j2",
            values={
                "stage": stage,
                "request": req.model_dump(mode="json"),
                "account": self.account.model_dump(mode="json") if self.account else {},
                "workflow_id": workflow.info().workflow_id,
                "payload": payload,
                "payload_json": json.dumps(payload),
            },
        )

    # ------------------------------------------------------------------ visibility

    def details_header(self) -> list[str]:
        """Markdown lines saying what this workflow is and where it stands."""
        return []

    def publish(self) -> None:
        """Make the current details and search attributes say what is true now."""
        open_requests = [r for r in self.requests.values() if r.status == "open"]
        workflow.set_current_details(self._details_markdown(open_requests))
        approvers = sorted({a for r in open_requests for a in r.eligible_approvers})
        state = (self.stage, len(open_requests), tuple(approvers))
        if state != self._published_attributes:
            # Only on change: every upsert is a command in the history.
            self._published_attributes = state
            workflow.upsert_search_attributes(
                [
                    sa.STAGE.value_set(self.stage),
                    sa.PENDING_APPROVALS.value_set(len(open_requests)),
                    sa.APPROVERS.value_set(approvers),
                ]
            )

    def _details_markdown(self, open_requests: list[HumanRequest]) -> str:
        lines = [*self.details_header(), ""]
        if open_requests:
            lines.append(f"### Waiting for a human ({len(open_requests)})")
            for r in open_requests:
                others = [d for d in ALLOWED_DECISIONS[r.kind] if d != r.signal_payload()["decision"]]
                lines += [
                    "",
                    f"**{r.title}**",
                    "",  # the UI's Markdown needs it to start the list
                    f"- Request `{r.request_id}` · {r.kind} · autonomy `{r.autonomy.value}`",
                    f"- Who may decide: {', '.join(r.eligible_approvers)}",
                    (f"- Decide by **{_fmt(r.due_at)}**; expires {_fmt(r.expire_at)}, "
                     "then nothing is done"),
                ]
                if r.draft:
                    lines += ["- Draft to judge:", "", *(f"> {line}" for line in r.draft.splitlines()), ""]
                lines += [
                    "- Paste into **Send a Signal** → `decide`:",
                    "",
                    "```json",
                    # Indented: one long line is cut off in the UI's details pane.
                    json.dumps(r.signal_payload(), indent=2),
                    "```",
                ]
                if others:
                    lines.append(
                        f"  Other decisions: {', '.join(others)}"
                        + (' (an edit carries the new text in `"text"`)' if "edit" in others else "")
                    )
        else:
            lines.append("Nothing is waiting for a human.")
        closed = [r for r in self.requests.values() if r.status != "open"]
        if closed:
            lines += ["", "### Decided"]
            lines += [
                f"- `{r.request_id}`: **{r.status}**"
                + (f" by {r.decided_by}" if r.decided_by else "")
                + (f" at {_fmt(r.decided_at)}" if r.decided_at else "")
                for r in closed
            ]
        if self.refusals:
            lines += ["", "### Refused signals (the workflow kept waiting)"]
            lines += [
                f"- {_fmt(f.at)}: {f.reason} — payload `{f.payload[:200]}`"
                for f in self.refusals[-5:]
            ]
        return "\n".join(lines)
