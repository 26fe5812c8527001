"""The human-decision protocol, written once and mixed into every workflow.

- query `human_requests`: the open requests, each with a ready-to-paste payload;
- signal `decide` (for the Temporal UI): a bad payload never fails the workflow
  task; it is recorded as refused, shown in the current details, and the
  workflow keeps waiting;
- update `decide` (for the CLI and programs): same payload, a validator rejects
  bad input with a clear message;
- current details in Markdown and the search attributes kept true at every step;
- per request: reminder, escalation to the manager, then expiry with the safe
  default (nothing is done, `expired` is recorded). Never auto-approved;
- who sent a decision: the identity Temporal recorded, read from the workflow's
  own history, must not be another person's address (`_decide`);
- an approval is checked again against the policy in force before its action
  runs (`ask_until_allowed`);
- signal `delivery_outcome`: the outbox dispatcher's word that a message of this
  workflow settled, checked against the outbox (`delivered`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict, TypeVar, Unpack

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from activities.deciders import DeciderActivities
    from activities.deliveries import DeliveryActivities
    from activities.reviews import ReviewActivities
    from contracts import errors, names
    from contracts import search_attributes as sa
    from contracts.accounts import AccountFacts
    from contracts.autonomy import AutonomyDecision, AutonomyLevel
    from contracts.human import (
        ALLOWED_DECISIONS,
        REVIEW_REASONS,
        STATUS_FOR_DECISION,
        DecideInput,
        DeciderCheck,
        DeciderCheckInput,
        DecideResult,
        HumanRequest,
        HumanRequestView,
        Refusal,
        RequestKind,
        ReviewInput,
    )
    from contracts.knowledge import SourceRef
    from contracts.records import AuditEntry, DeliveryNews, DeliveryStatus
    from policies import evaluate
    from policies.model import Ladder, PolicySet

from workflows import effects, reads
from workflows.handler_guard import preview
from workflows.human_details import details_markdown, fmt
from workflows.options import RECORD_RETRY, RECORD_TIMEOUT
from workflows.required import required

MAX_REFUSALS_KEPT = 20
M = TypeVar("M", bound=BaseModel)


def decode_payload(raw: RawValue, model: type[M]) -> tuple[M | None, str | None]:
    """A raw handler argument as `model`, or None and why not in one sentence."""
    try:
        data = workflow.payload_converter().from_payload(raw.payload)
    except Exception:  # noqa: BLE001 (any decoding failure is the sender's error)
        return None, "not valid JSON"
    try:
        return model.model_validate(data), None
    except ValidationError as err:
        fields = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in err.errors()
        )
        return None, f"malformed payload ({fields})"


class RequestSpec(TypedDict):
    """What a human request asks (`HumanDecisions.open_request` and `ask`)."""

    kind: RequestKind
    decision: AutonomyDecision
    title: str
    ladder: Ladder
    approvers: NotRequired[list[str] | None]
    draft: NotRequired[str | None]
    request_id: NotRequired[str | None]
    notes: NotRequired[list[str] | None]
    sources: NotRequired[list[SourceRef] | None]
    not_sendable: NotRequired[str | None]
    audit_detail: NotRequired[dict[str, Any] | None]  # more for the "requested" audit row
    reviewed: NotRequired[str | None]  # a review: the sent message's idempotency key


class HumanDecisions:
    """Mixin for workflows that ask humans. The workflow sets `self.account`,
    `self.stage` and overrides `details_header()`; it calls `ask()` to wait."""

    def __init__(self) -> None:
        self.account: AccountFacts | None = None
        self.stage = "starting"
        self.requests: dict[str, HumanRequest] = {}
        self.refusals: list[Refusal] = []
        # Text the details header quotes already (a ticket's): requests about it say so.
        self.shown_above: str | None = None
        self._published_attributes: tuple | None = None
        # One decision is checked and applied at a time (checking who sent it waits
        # on an activity, and a second decision must see the first one's outcome).
        self._deciding = asyncio.Lock()
        self._decider_events: list[int] = []  # signal events matched to decisions
        # What the outbox says became of this workflow's messages: failures, and the
        # sends it asked to hear about (by idempotency key).
        self.deliveries: dict[str, DeliveryStatus] = {}
        # Audit rows written by local activities (a workflow turns it on behind its
        # own patch: it changes the commands).
        self.audit_locally = False

    # ------------------------------------------------------------------ handlers

    @workflow.query(name=names.HUMAN_REQUESTS_QUERY)
    def human_requests(self) -> list[HumanRequestView]:
        return [r.view() for r in self.requests.values() if r.status == "open"]

    @workflow.query(name=names.HUMAN_HISTORY_QUERY)
    def human_history(self) -> dict:
        """Every request (open and closed) and every refused signal."""
        return {
            "requests": [r.model_dump(mode="json") for r in self.requests.values()],
            "refusals": [r.model_dump(mode="json") for r in self.refusals],
        }

    @workflow.signal(name=names.DECIDE)
    async def decide_signal(self, raw: RawValue) -> None:
        # Raw payload: decoding it ourselves means a malformed one is refused and
        # shown, instead of being dropped by the SDK before we ever see it.
        inp, problem = self.parse_decision(raw)
        if problem:
            self.refuse(problem, preview(raw))
            return
        assert inp is not None  # parse_decision names a problem whenever it has no decision
        await self._decide(inp, raw, update_id=None)

    @workflow.update(name=names.DECIDE)
    async def decide_update(self, raw: RawValue) -> DecideResult:
        inp, _ = self.parse_decision(raw)
        # The validator refused any payload that does not parse; replays skip the
        # validator, but only accepted updates are in the history.
        assert inp is not None
        info = workflow.current_update_info()
        req = await self._decide(inp, raw, update_id=info.id if info else None)
        if req is None:
            raise ApplicationError(
                self.refusals[-1].reason, type=errors.DECISION_REFUSED, non_retryable=True
            )
        return DecideResult(request_id=req.request_id, status=req.status, approver=inp.approver)

    @decide_update.validator
    def _validate_decide(self, raw: RawValue) -> None:
        # Raw here too, so a malformed payload gets the same clear reason as the signal.
        # An ApplicationError of its own type, not a ValueError: the UI and the CLI
        # show the sentence alone (contracts/converter.py drops its stack trace).
        _, problem = self.parse_decision(raw)
        if problem:
            raise ApplicationError(problem, type=errors.DECISION_REFUSED, non_retryable=True)

    # A run that ends normally waits for its handlers; one cancelled or failed while
    # the outbox is being asked has nobody left to tell, so the check is dropped.
    @workflow.signal(
        name=names.DELIVERY_OUTCOME_SIGNAL,
        unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON,
    )
    async def delivery_outcome(self, raw: RawValue) -> None:
        """The dispatcher's word that a message settled; the outbox is asked, so a
        forged signal can claim nothing."""
        news = self.signal_input(names.DELIVERY_OUTCOME_SIGNAL, raw, DeliveryNews)
        if news is None or news.idempotency_key in self.deliveries:
            return
        if not news.idempotency_key.startswith(workflow.info().workflow_id + "/"):
            self.refuse("delivery news about another workflow's message", preview(raw))
            return
        status = await workflow.execute_activity_method(
            DeliveryActivities.delivery_status,
            news,
            summary=f"delivery of {news.idempotency_key}",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
        if status.settled and news.idempotency_key not in self.deliveries:
            self.deliveries[news.idempotency_key] = status
            if status.status == "failed":
                workflow.logger.warning("not delivered: %s", news.idempotency_key)
                self.publish()

    async def delivered(self, step: str, within: timedelta) -> DeliveryStatus | None:
        """What became of this workflow's message `step` (sent with `confirm`): the
        outbox's status once it settles, None when nobody said so `within`."""
        key = f"{workflow.info().workflow_id}/{step}"
        try:
            await workflow.wait_condition(
                lambda: key in self.deliveries,
                timeout=within,
                timeout_summary=f"delivery of {step}",
            )
        except TimeoutError:
            return None
        return self.deliveries[key]

    # ------------------------------------------------------------------ decisions

    def parse_decision(self, raw: RawValue) -> tuple[DecideInput | None, str | None]:
        """The decision in a raw `decide` payload, or why it cannot be applied."""
        inp, problem = decode_payload(raw, DecideInput)
        if inp is None:
            return None, problem
        return inp, self.decision_problem(inp)

    def signal_input(self, name: str, raw: RawValue, model: type[M]) -> M | None:
        """A signal's payload as `model`, or None once the refusal is recorded."""
        inp, problem = decode_payload(raw, model)
        if inp is None:
            self.refuse(f"signal {name!r}: {problem}", preview(raw))
        return inp

    def decision_problem(self, inp: DecideInput) -> str | None:
        """Why this decision cannot be applied, or None when it can."""
        req = self.requests.get(inp.request_id)
        if req is None:
            known = ", ".join(self.requests) or "none"
            return f"unknown request {inp.request_id!r} (requests on this workflow: {known})"
        if req.status != "open":
            return f"request {req.request_id!r} is already closed: {req.status}" + (
                f" by {req.decided_by}" if req.decided_by else ""
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
        if inp.decision == "bad" and inp.reason is None:
            return f"a bad grade needs a `reason`: one of {', '.join(REVIEW_REASONS)}"
        if inp.reason is not None and inp.decision != "bad":
            return "a `reason` goes only with decision=bad"
        if req.not_sendable and (
            inp.decision == "approve" or (inp.decision == "edit" and inp.text == req.draft)
        ):
            return (
                f"the draft of {req.request_id!r} cannot be sent as it stands ({req.not_sendable}); "
                "send decision=edit with your reply in `text`, or reject it"
            )
        return None

    async def _decide(
        self, inp: DecideInput, raw: RawValue, update_id: str | None
    ) -> HumanRequest | None:
        """Check who sent the decision, then apply it; None once it is refused."""
        async with self._deciding:
            problem = self.decision_problem(inp)  # a decision before it may have closed it
            check = None
            if not problem and workflow.patched(names.PATCH_VERIFIED_DECIDERS):
                check = await self._check_decider(inp, update_id)
                # The request may have expired, or been taken back, meanwhile.
                problem = check.problem or self.decision_problem(inp)
                if check.problem:
                    await self._audit_impersonation(inp, check)
            if problem:
                self.refuse(problem, preview(raw))
                return None
            return self._apply(inp, check)

    async def _check_decider(self, inp: DecideInput, update_id: str | None) -> DeciderCheck:
        info = workflow.info()
        check = await workflow.execute_activity_method(
            DeciderActivities.check_decider,
            DeciderCheckInput(
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                request_id=inp.request_id,
                decision=inp.decision,
                approver=inp.approver,
                update_id=update_id,
                up_to_event=info.get_current_history_length(),
                used_events=self._decider_events,
            ),
            summary=f"who sent {inp.decision} on {inp.request_id}",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
        if update_id is None and check.event_id:
            self._decider_events.append(check.event_id)
        return check

    async def _audit_impersonation(self, inp: DecideInput, check: DeciderCheck) -> None:
        req = self.requests[inp.request_id]
        await self.audit(
            f"{inp.request_id}/refused/{check.event_id}",
            req.action,
            "refused",
            actor=check.identity or "unknown",
            detail={"approver": inp.approver, "decision": inp.decision, "reason": check.problem},
        )

    def _apply(self, inp: DecideInput, check: DeciderCheck | None = None) -> HumanRequest:
        req = self.requests[inp.request_id]
        req.status = STATUS_FOR_DECISION[inp.decision]
        req.decided_by = inp.approver
        if check is not None:
            req.decided_identity, req.identity_verified = check.identity, check.verified
        req.decided_at = workflow.now()
        req.note = inp.note
        req.reason = inp.reason
        req.final_text = inp.text if inp.decision == "edit" else req.draft
        self.publish()
        return req

    def refuse(self, reason: str, payload: str) -> None:
        """A signal that cannot be applied: recorded and shown (the last few kept,
        so a flood of bad signals cannot grow the workflow's state)."""
        workflow.logger.warning("refused signal: %s", reason)
        self.refusals = [
            *self.refusals[-(MAX_REFUSALS_KEPT - 1) :],
            Refusal(at=workflow.now(), reason=reason, payload=payload),
        ]
        self.publish()

    # ------------------------------------------------------------------ asking

    def next_request_id(self, kind: RequestKind) -> str:
        """Short, pasteable and deterministic: ack-1, approval-2, task-1."""
        return f"{kind}-{sum(1 for r in self.requests.values() if r.kind == kind) + 1}"

    async def ask(self, *, notify: bool = True, **spec: Unpack[RequestSpec]) -> HumanRequest:
        """Open a request and wait until a human closes it or it expires.

        Timers: reminder to the approvers, then escalation to the manager, then
        expiry. Expiry is the safe default: nothing is done on the human's behalf.
        Who may decide: `approvers`, else whom the policy names for the action.
        """
        req = self.open_request(**spec)
        await effects.record_audit(
            self.requested_entry(req, spec["decision"], spec.get("audit_detail")),
            local=self.audit_locally,
        )
        if notify:
            await self._notify(req, "new", req.eligible_approvers)
        return await self.follow_request(req, spec["decision"])

    def open_request(self, **spec: Unpack[RequestSpec]) -> HumanRequest:
        """The request, open and shown (query, details, search attributes) from now;
        nothing waits yet (see `ask`)."""
        decision, ladder, kind = spec["decision"], spec["ladder"], spec["kind"]
        approvers = spec.get("approvers") or decision.approvers or self._account_team()
        now = workflow.now()
        request_id = spec.get("request_id") or self.next_request_id(kind)
        req = HumanRequest(
            request_id=request_id,
            kind=kind,
            action=decision.action,
            autonomy=decision.level,
            title=spec["title"],
            draft=spec.get("draft"),
            eligible_approvers=list(dict.fromkeys(approvers)),
            created_at=now,
            due_at=now + ladder.due,
            remind_at=now + ladder.remind,
            escalate_at=now + ladder.escalate,
            expire_at=now + ladder.expire,
            notes=spec.get("notes") or [],
            sources=spec.get("sources") or [],
            not_sendable=spec.get("not_sendable"),
            policy_version=decision.policy_version,
            rule=decision.rule,
            adjustments=decision.adjustments,
            reviewed=spec.get("reviewed"),
        )
        self.requests[request_id] = req
        self.publish()
        return req

    def requested_entry(
        self, req: HumanRequest, decision: AutonomyDecision, more: dict[str, Any] | None = None
    ) -> AuditEntry:
        """The audit row of a request being opened (`more`: what else its detail says)."""
        return effects.audit_entry(
            self.account_id(),
            f"{req.request_id}/requested",
            req.action,
            "requested",
            decision=decision,
            detail={
                "kind": req.kind,
                "approvers": req.eligible_approvers,
                "draft": req.draft,  # policy stats measure how far decisions changed it
                **(more or {}),
            },
        )

    async def follow_request(self, req: HumanRequest, decision: AutonomyDecision) -> HumanRequest:
        """Wait on an open request through its ladder until a human closes it or it
        expires; audit how it ended. A review expires quietly: the action it grades
        already happened, so nobody is reminded and nothing is escalated."""
        # Opened with every step's time (open_request); HumanRequest types them optional.
        assert req.remind_at is not None and req.escalate_at is not None
        steps = [("reminder", req.remind_at), ("escalation", req.escalate_at)]
        for step, at in [*(steps if req.kind != "review" else []), ("expiry", req.expire_at)]:
            if await self._closed_by(req, at, step):
                break
            if step == "reminder":
                req.reminded = True
                await self._notify(req, "reminder", req.eligible_approvers)
            elif step == "escalation" and self.account:
                req.escalated = True
                req.eligible_approvers = list(
                    dict.fromkeys([*req.eligible_approvers, self.account.manager])
                )
                self.publish()
                await self._notify(req, "escalation", [self.account.manager])
            elif step == "expiry":
                req.status = "expired"
                req.decided_at = workflow.now()
                self.publish()

        await self.audit(
            f"{req.request_id}/{req.status}",
            req.action,
            req.status,
            actor=req.decided_by or ("agent" if req.status == "withdrawn" else "policy"),
            decision=decision,
            detail={
                "note": req.note,
                **(
                    {"kind": "review", "reviewed": req.reviewed, "reason": req.reason}
                    if req.kind == "review"
                    else {}
                ),
                "edited": req.status == "edited",
                "final_text": req.final_text,  # what was sent; policy stats compare the draft
                "escalated": req.escalated,  # the ladder reached the manager
                **(
                    {"identity": req.decided_identity, "identity_verified": req.identity_verified}
                    if req.decided_identity is not None
                    else {}
                ),
            },
        )
        return req

    async def ask_until_allowed(
        self,
        redecide: Callable[[PolicySet], AutonomyDecision],
        new_request_id: Callable[[], str] | None = None,
        **ask: Any,
    ) -> tuple[HumanRequest, AutonomyDecision]:
        """`ask` for an approval, then check it against the policy in force when the
        action is about to run. An approval that policy no longer allows (the action
        is off-limits now, or the approver is no longer eligible) is superseded,
        audited, and asked again of whom the policy names now. Returns the last
        request and the decision in force; an off-limits action comes back
        `superseded`, for the caller to hand to a person.

        Args:
            redecide: the caller's autonomy decision for this action under a policy.
            new_request_id: the id of each request, asked before each (default: the next).
            ask: the arguments of `ask`, `decision` among them.
        """
        decision: AutonomyDecision = ask.pop("decision")
        while True:
            if new_request_id:
                ask["request_id"] = new_request_id()
            req = await self.ask(decision=decision, **ask)
            if req.status not in ("approved", "edited") or not workflow.patched(
                names.PATCH_APPROVALS_RECHECKED
            ):
                return req, decision
            current = redecide(await reads.policy_snapshot())
            problem = self._approval_problem(req, current)
            if problem is None:
                return req, current
            req.status, req.superseded = "superseded", problem
            self.publish()
            await self.audit(
                f"{req.request_id}/superseded",
                req.action,
                "superseded",
                actor="policy",
                decision=current,
                detail={"reason": problem, "decided_by": req.decided_by},
            )
            if current.level == AutonomyLevel.OFF_LIMITS:
                return req, current
            decision = current
            ask["request_id"] = None  # the next of its kind, unless new_request_id says

    def _approval_problem(self, req: HumanRequest, now: AutonomyDecision) -> str | None:
        """Why an approval may not run under the decision the policy makes now."""
        if now.level == AutonomyLevel.OFF_LIMITS:
            return (
                f"{now.action} is off-limits under policy {now.policy_version} "
                f"(rule {now.rule}); it was approved under policy {req.policy_version}"
            )
        eligible = [*(now.approvers or self._account_team())]
        if req.escalated and self.account:
            eligible.append(self.account.manager)  # the ladder made the manager eligible
        if (req.decided_by or "").lower() not in (a.lower() for a in eligible):
            return (
                f"{req.decided_by} may no longer decide {now.action} under policy "
                f"{now.policy_version}; eligible now: {', '.join(eligible)}"
            )
        return None

    async def ask_account_team(
        self,
        kind: RequestKind,
        decision: AutonomyDecision,
        title: str,
        ladder: Ladder,
        draft: str | None = None,
        request_id: str | None = None,
    ) -> HumanRequest:
        """`ask` whom the policy names for the action (by default the account's CSM,
        with their manager as the other approver)."""
        return await self.ask(
            kind=kind,
            decision=decision,
            title=title,
            ladder=ladder,
            draft=draft,
            request_id=request_id,
        )

    def _account_team(self) -> list[str]:
        """The CSM and their manager: who decides where no policy names anyone."""
        a = self._account
        return [a.owner_csm, a.manager]

    def withdraw(self, request_ids: list[str]) -> None:
        """Take requests back: the agent no longer needs them (the customer did the
        thing, or the plan is over). Their `ask()` returns `withdrawn`; the caller
        publishes once its own state is updated too."""
        for request_id in request_ids:
            req = self.requests.get(request_id)
            if req is not None and req.status == "open":
                req.status, req.decided_at = "withdrawn", workflow.now()

    async def _closed_by(self, req: HumanRequest, at: datetime, step: str) -> bool:
        remaining = at - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: req.status != "open",
                    timeout=remaining,
                    timeout_summary=f"{step} for {req.request_id} at {fmt(at)}",
                )
            except TimeoutError:
                pass
        return req.status != "open"

    # ------------------------------------------------------------------ side effects

    def account_id(self) -> str:
        return self.account.account_id if self.account else ""

    async def audit(
        self, key: str, action: str, outcome: str, **how: Unpack[effects.AuditedHow]
    ) -> None:
        """An audit row for this workflow's account (see `effects.audit`)."""
        await effects.audit(
            self.account_id(), key, action, outcome, local=self.audit_locally, **how
        )

    async def send(self, key: str, summary: str, **message: Any) -> None:
        """A message in the outbox for this workflow's account (see `effects.send`)."""
        await effects.send(self.account_id(), key, summary, **message)

    async def agent_sends(
        self,
        policies: PolicySet,
        decision: AutonomyDecision,
        key: str,
        summary: str,
        *,
        engine: str,
        detail: dict[str, Any],
        sample_key: str | None = None,
        **message: Any,
    ) -> bool:
        """The agent sends on its own (autonomous or supervised) and audits `<key>/sent`.
        A supervised send the policy samples is flagged on its outbox row and graded
        after the fact: a `review` request in a workflow of its own (`review/{message
        key}`, opened by an activity), so it never blocks this one. Returns whether it
        was sampled.

        Args:
            sample_key: what the sample is drawn on (default: the message's own key).
            message: the outbox fields besides the key (audience, to, subject, body or
                template and values, ...).
        """
        sent = f"{workflow.info().workflow_id}/{key}"
        sampled = decision.level == AutonomyLevel.SUPERVISED and evaluate.sampled_for_review(
            policies.autonomy.supervised_sample_rate, sample_key or sent
        )
        await self.send(key, summary, engine=engine, sampled_for_review=sampled, **message)
        await self.audit(
            f"{key}/sent",
            decision.action,
            "sent",
            decision=decision,
            engine=engine,
            detail={**detail, "sampled_for_review": sampled},
        )
        # Runs that sampled a send before reviews existed only flagged it.
        if sampled and workflow.patched(names.PATCH_REVIEW_REQUESTS):
            await self._open_review(policies, decision, sent, message)
        return sampled

    async def _open_review(
        self, policies: PolicySet, decision: AutonomyDecision, sent: str, message: dict
    ) -> None:
        a, review = self._account, policies.autonomy.review
        await workflow.execute_activity_method(
            ReviewActivities.open_review,
            ReviewInput(
                account=a,
                decision=decision,
                reviewed=sent,
                to=message["to"],
                subject=message["subject"],
                body=message.get("body", ""),
                template=message.get("template"),
                values=message.get("values", {}),
                reviewers=evaluate.approvers_for(policies, review.reviewers, a),
                window=review.window,
            ),
            summary=f"open the review of {sent}",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    async def _notify(self, req: HumanRequest, stage: str, to: list[str]) -> None:
        # Each recipient's own payload: nobody pastes someone else's address.
        payloads = {person: req.payloads_for(person)[0] for person in to}
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
                "payloads": {p: json.dumps(payload) for p, payload in payloads.items()},
                "decision": next(iter(payloads.values()))["decision"],
            },
        )

    # ------------------------------------------------------------------ visibility

    def set_account(self, account: AccountFacts, only_changes: bool = False) -> None:
        """The workflow's account, and its search attributes to match; with
        `only_changes`, only those it did not start with (each upsert is a
        visibility write on the server)."""
        self.account = account
        updates = sa.account_updates(account)
        if only_changes:
            have = workflow.info().typed_search_attributes
            updates = [u for u in updates if have.get(u.key) != u.value]
        if updates:
            workflow.upsert_search_attributes(updates)

    @property
    def _account(self) -> AccountFacts:
        """`self.account`, for steps that run after `set_account()`."""
        return required(self.account, "the account")

    def details_header(self) -> list[str]:
        """Markdown lines saying what this workflow is and where it stands."""
        return []

    def publish(self) -> None:
        """Make the current details and search attributes say what is true now."""
        open_requests = [r for r in self.requests.values() if r.status == "open"]
        workflow.set_current_details(
            details_markdown(
                self.details_header(),
                self.requests.values(),
                self.refusals,
                [d for d in self.deliveries.values() if d.status == "failed"],
                self.shown_above,
            )
        )
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
