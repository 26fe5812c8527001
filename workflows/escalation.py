"""EscalationWorkflow (`escalation/{ticket_id}`): route one support ticket.

Pull context -> assess -> policy. Hot: the owning CSM and on-call hear at once,
the agent sends nothing to the customer, and a human must acknowledge.
Not hot: a reply at the level the autonomy policy gives. A strategic ask goes
to the CSM as a task, alongside either path.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.context_pulls import ContextActivities
    from activities.llm_gateway import LlmActivities
    from activities.records import RecordActivities
    from contracts import names
    from contracts.autonomy import AutonomyDecision, AutonomyLevel
    from contracts.escalation import (
        AssessTicketInput,
        DraftReplyInput,
        EscalationInput,
        EscalationResult,
        EscalationState,
        HotTicketRecords,
        PullTicketContextInput,
        Ticket,
        TicketAssessment,
        TicketContext,
        TicketStatus,
        TicketStatusInput,
    )
    from contracts.human import HumanRequest
    from contracts.knowledge import SourceRef
    from contracts.markdown import md, quote_shortened
    from policies import evaluate
    from policies.model import PolicySet

from workflows import effects, reads
from workflows.effects import AuditedHow
from workflows.human import HumanDecisions, RequestSpec
from workflows.llm import ask_model
from workflows.options import RECORD_RETRY, RECORD_TIMEOUT, activity_runner

# How long a sent reply waits to hear from the outbox before the ticket closes with
# its delivery `unconfirmed` (the dispatcher reports within a second when it runs).
DELIVERY_WAIT = timedelta(minutes=30)
WHOLE_MESSAGE = "the Queries tab → `escalation_state` → `message`"


@workflow.defn(name=names.ESCALATION_WORKFLOW)
class EscalationWorkflow(HumanDecisions):
    def __init__(self) -> None:
        super().__init__()
        self.ticket_id = ""
        self.subject = ""
        self.ticket: Ticket | None = None  # what the customer wrote, for the details
        self.assessment: TicketAssessment | None = None
        self.decision: AutonomyDecision | None = None
        self.hot_why: list[str] = []
        self.outcome = "in progress"
        self.customer_messages_sent = 0
        self.grounded = False  # this run follows the grounded-replies rules
        self.ticket_status = ""
        self.sources: list[SourceRef] = []
        self.human_reasons: list[str] = []
        self.routed = False  # answered alone, or a human asked, with the status recorded
        self.strategic: str | None = None
        self.delivery = ""
        self.confirm_delivery = False
        self.sooner = False  # reads at once; a hot ticket's status after its notification
        self.lean = False  # reads in one local activity, a hot ticket's writes in one

    def details_header(self) -> list[str]:
        lines = [
            f"## Escalation {md(self.ticket_id)}"
            + (f" · {md(self.account.name)}" if self.account else "")
        ]
        if self.ticket:
            t = self.ticket
            lines += [
                f"Ticket: *{md(t.subject) or '(no subject)'}*"
                + (f" from {md(t.requester_email)}" if t.requester_email else "")
                + f", {t.created_at:%Y-%m-%d %H:%M} UTC",
                "",
                "The customer wrote:",
                "",
                *quote_shortened(t.body, WHOLE_MESSAGE),
                "",
            ]
        if self.account:
            lines.append(f"Account {self.account.summary_line()}")
        lines.append(f"Stage: **{self.stage}** · outcome: {self.outcome}")
        if self.assessment:
            lines.append(self.assessment.summary_line())
        if self.hot_why:
            lines.append(f"HOT: {md('; '.join(self.hot_why))}. Nothing is sent to the customer.")
        if self.decision:
            lines.append(self.decision.summary_line())
        return lines

    @workflow.query(name=names.ESCALATION_STATE_QUERY)
    def escalation_state(self) -> EscalationState:
        """The route so far (`csops shadow` reads it to know when a ticket is settled)."""
        return EscalationState(
            **self._result().model_dump(),
            stage=self.stage,
            routed=self.routed,
            hot_reasons=self.hot_why,
            assessment=self.assessment,
            strategic=self.strategic,
            message=self.ticket.body if self.ticket else None,
        )

    def _result(self) -> EscalationResult:
        return EscalationResult(
            ticket_id=self.ticket_id,
            hot=bool(self.hot_why),
            action=self.decision.action if self.decision else "",
            autonomy=self.decision.level if self.decision else AutonomyLevel.OFF_LIMITS,
            outcome=self.outcome,
            customer_messages_sent=self.customer_messages_sent,
            requests=list(self.requests.values()),
            ticket_status=self.ticket_status,
            sources=self.sources,
            human_reasons=self.human_reasons,
            delivery=self.delivery,
        )

    @workflow.run
    async def run(self, inp: EscalationInput) -> EscalationResult:
        self.ticket_id = inp.ticket_id
        self.stage = "assessing"
        # One local activity reads the policy snapshot and the ticket, and a hot
        # ticket's writes after its assessment are one local activity too (`_hot`):
        # four workflow activations to the ack timer where one by one took eight. A
        # run that starts now takes every earlier change with it, so its history
        # holds one patch marker (and one search-attribute upsert) instead of four.
        self.lean = workflow.patched(names.PATCH_ESCALATION_LEAN)
        self.grounded = self.lean or workflow.patched(names.PATCH_GROUNDED_REPLIES)
        # Replies wait for the outbox's word on their delivery (older runs did not).
        self.confirm_delivery = self.lean or workflow.patched(names.PATCH_DELIVERY_CONFIRMED)
        # The policy and the ticket are read at once, as local activities (quick
        # reads: no task queue round trip, no extra workflow task), a hot ticket's
        # status is recorded once its notification is queued, and audit rows are
        # local activities too. Older runs did each as an activity of its own, one
        # after the other, the hot ticket's status before its notification.
        self.sooner = self.lean or workflow.patched(names.PATCH_NOTIFY_SOONER)
        self.audit_locally = self.sooner
        self.publish()
        if self.lean:
            policies, ctx = await reads.ticket_reads(inp.ticket_id)
        elif self.sooner:
            policies, ctx = await asyncio.gather(
                reads.policy_snapshot(local=True), self._pull_context(inp.ticket_id)
            )
        else:
            policies = await reads.policy_snapshot()
            ctx = await self._pull_context(inp.ticket_id)
        self.subject = ctx.ticket.subject
        self.ticket = ctx.ticket
        self.shown_above = f"{ctx.ticket.subject}\n\n{ctx.ticket.body}"  # ack/task drafts
        # The launcher started it with the account's attributes: only changes now.
        self.set_account(ctx.account, only_changes=self.lean)
        assessment = await self._assess(ctx)
        self.assessment = assessment
        text = f"{ctx.ticket.subject}\n{ctx.ticket.body}"
        self.hot_why = evaluate.hot_reasons(policies.routing, assessment, text)
        self.strategic = evaluate.strategic_signal(policies.routing, assessment, text)

        side_tasks = []
        if self.strategic:
            side_tasks.append(
                asyncio.create_task(self._strategic_task(policies, ctx, self.strategic))
            )
        if self.hot_why:
            await self._hot(policies, ctx, assessment)
        else:
            await self._routine(policies, ctx, assessment)
        await asyncio.gather(*side_tasks)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.routed = True
        return self._result()

    async def _pull_context(self, ticket_id: str) -> TicketContext:
        return await activity_runner(self.sooner)(
            ContextActivities.pull_ticket_context,
            PullTicketContextInput(ticket_id=ticket_id),
            summary=f"pull context for {ticket_id}",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    async def _assess(self, ctx: TicketContext) -> TicketAssessment:
        try:
            return await ask_model(
                LlmActivities.assess_ticket,
                AssessTicketInput(workflow_id=workflow.info().workflow_id, context=ctx),
                "assess ticket: intent, sentiment, severity",
            )
        except ActivityError as err:
            # The model is unavailable: the ticket is not lost, a human reads it.
            workflow.logger.warning("assessment failed, routing to a human: %s", err.cause)
            return TicketAssessment.for_a_human(
                f"assessment failed: {err.cause or err}"[:300], engine="unavailable"
            )

    async def _hot(
        self, policies: PolicySet, ctx: TicketContext, assessment: TicketAssessment
    ) -> None:
        """Notify first, before any timer or human step; then wait for an ack."""
        wf_id = workflow.info().workflow_id
        routing = policies.routing
        notify = evaluate.decide_autonomy(policies, "internal_notification", ctx.account, hot=True)
        ack_decision = evaluate.decide_autonomy(
            policies, "crisis_communication", ctx.account, hot=True
        )
        self.decision = ack_decision
        self.human_reasons = [f"hot: {r}" for r in self.hot_why]
        if not self.sooner:
            await self._ticket_status("escalated")
        self.stage = "hot: awaiting ack"
        ladder = routing.ack.ladder()
        request_id = self.next_request_id("ack")
        approvers = ack_decision.approvers or [ctx.account.owner_csm, routing.on_call]
        notification: dict[str, Any] = {
            "audience": "internal",
            "channel": "chat",
            "to": [ctx.account.owner_csm, routing.on_call],
            "subject": f"[csops] HOT {ctx.account.name}: "
            + (ctx.ticket.subject.strip() or "(no subject)"),
            "template": "messages/hot_escalation.md.j2",
            "values": {
                "account": ctx.account.model_dump(mode="json"),
                "ticket": ctx.ticket.model_dump(mode="json"),
                "assessment": assessment.model_dump(mode="json"),
                "reasons": self.hot_why,
                "workflow_id": wf_id,
                "request_id": request_id,
                "due_at": (workflow.now() + ladder.due).strftime("%Y-%m-%d %H:%M"),
                # Each person who may take it over, with their own payload.
                "payloads": {
                    p: {"request_id": request_id, "decision": "ack", "approver": p}
                    for p in approvers
                },
            },
        }
        summary = f"notify {ctx.account.owner_csm} + on-call: hot ticket"
        notified: AuditedHow = {
            "decision": notify,
            "engine": assessment.engine,
            "detail": {"reasons": self.hot_why},
        }
        ask: RequestSpec = {
            "kind": "ack",
            "decision": ack_decision,
            "title": f"Hot escalation {ctx.ticket.ticket_id}: acknowledge and take it over",
            "approvers": approvers,
            "ladder": ladder,
            "draft": f"{ctx.ticket.subject}\n\n{ctx.ticket.body}",
            "request_id": request_id,
        }
        if self.lean:
            # The request opens, then one local activity writes the notification,
            # both audit rows and the ticket's status; the ack ladder starts after it.
            req = self.open_request(**ask)
            account_id = self.account_id()
            await workflow.execute_local_activity_method(
                RecordActivities.record_hot_ticket,
                HotTicketRecords(
                    message=effects.outbound(account_id, "hot/notify", **notification),
                    audits=[
                        effects.audit_entry(
                            account_id, "hot/notify", "internal_notification", "sent", **notified
                        ),
                        self.requested_entry(req, ack_decision),
                    ],
                    status=TicketStatusInput(ticket_id=self.ticket_id, status="escalated"),
                ),
                summary=f"{summary}; ticket escalated; audited",
                start_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=RECORD_RETRY,
            )
            self.ticket_status = "escalated"
            self.routed = True
            req = await self.follow_request(req, ack_decision)
        else:
            await self.send("hot/notify", summary, **notification)
            if self.sooner:
                await self._ticket_status("escalated")
            await self.audit("hot/notify", "internal_notification", "sent", **notified)
            self.routed = True
            # The hot notification above already went out.
            req = await self.ask(**ask, notify=False)
        self.outcome = req.status
        self.stage = "acknowledged" if req.status == "acked" else "expired: unacknowledged"
        self.publish()

    async def _routine(
        self, policies: PolicySet, ctx: TicketContext, assessment: TicketAssessment
    ) -> None:
        action = evaluate.action_for_intent(policies.routing, assessment.intent)
        signals = (
            evaluate.TicketSignals.of(assessment, ctx.ticket.priority) if self.grounded else None
        )

        def reply_decision(policies: PolicySet, adjustments: list[str]) -> AutonomyDecision:
            """The reply's place on the spectrum under `policies`: the rule, then the
            assessment, then what is wrong with the draft, each only moving it right."""
            decision = evaluate.with_assessment(
                evaluate.decide_autonomy(policies, action, ctx.account, ticket=signals),
                assessment,
                policies.routing,
            )
            if adjustments and decision.level != AutonomyLevel.COPILOT:
                decision = decision.model_copy(
                    update={
                        "level": decision.level.at_least(AutonomyLevel.COPILOT),
                        "adjustments": [*decision.adjustments, *adjustments],
                    }
                )
            return decision

        decision = reply_decision(policies, [])
        self.decision = decision
        if decision.level == AutonomyLevel.OFF_LIMITS:
            # The agent neither acts nor drafts: a human task is created.
            await self._human_task(
                policies,
                ctx,
                decision,
                f"Handle {ctx.ticket.ticket_id} yourself: {action} is off-limits for the agent",
                why=f"{action} is off-limits (rule {decision.rule})",
            )
            return

        self.stage = "drafting"
        self.publish()
        try:
            draft = await ask_model(
                LlmActivities.draft_reply,
                DraftReplyInput(
                    workflow_id=workflow.info().workflow_id,
                    context=ctx,
                    assessment=assessment,
                    grounding=policies.routing.grounding if self.grounded else None,
                ),
                f"draft reply to {ctx.ticket.ticket_id}",
            )
        except ActivityError as err:
            if not self.grounded:
                raise
            # The model is down: the ticket is not lost, a human writes the reply.
            why = f"the draft step failed: {err.cause or err}"[:300]
            await self._human_task(
                policies, ctx, decision, f"Answer {ctx.ticket.ticket_id} yourself: {why}", why
            )
            return
        adjustments = []
        if draft.needs_human:
            adjustments.append("the draft could not be trusted")
        if self.grounded and draft.not_sendable:
            adjustments.append(f"the draft cannot be sent as it stands: {draft.not_sendable}")
        elif self.grounded and not draft.sources:
            adjustments.append("the draft cites no source")
        decision = reply_decision(policies, adjustments)
        self.decision = decision
        to = [ctx.ticket.requester_email or ctx.account.primary_contact_email or ""]
        source = draft.sources[0].source_id if draft.sources else None

        if decision.level in (AutonomyLevel.AUTONOMOUS, AutonomyLevel.SUPERVISED):
            sampled = await self.agent_sends(
                policies,
                decision,
                "reply",
                f"send reply to {', '.join(to)}",
                engine=draft.engine,
                detail={"sources": [r.citation() for r in draft.sources]},
                sample_key=workflow.info().workflow_id,  # one reply per ticket
                audience="customer",
                to=to,
                subject=draft.subject,
                body=draft.body,
                confirm=self.confirm_delivery,
            )
            self.customer_messages_sent += 1
            self.sources = draft.sources
            await self._ticket_status("answered", draft.body, source)
            self.routed = True
            self.outcome = "sent_sampled" if sampled else "sent"
            self.stage = "resolved"
            self.publish()
            await self._until_delivered(policies, ctx, decision)
            return

        self.stage = "awaiting approval"
        self.human_reasons = [
            f"{decision.level.value} (rule {decision.rule})",
            *decision.adjustments,
        ]
        await self._ticket_status("awaiting_human")
        self.routed = True
        req, decision = await self.ask_until_allowed(
            lambda now: reply_decision(now, adjustments),
            kind="approval",
            decision=decision,
            title=f"Approve the reply to {ctx.ticket.ticket_id} ({draft.engine} draft)",
            ladder=policies.routing.approval.ladder(),
            draft=draft.body,
            notes=draft.notes if self.grounded else None,
            sources=(draft.sources or draft.candidates) if self.grounded else None,
            not_sendable=draft.not_sendable if self.grounded else None,
        )
        self.decision = decision
        if req.superseded and decision.level == AutonomyLevel.OFF_LIMITS:
            await self._human_task(
                policies,
                ctx,
                decision,
                f"Handle {ctx.ticket.ticket_id} yourself: the approved reply was not sent",
                why=req.superseded,
            )
            return
        if req.status in ("approved", "edited"):
            final = req.final_text or draft.body
            await self._send_reply(
                ctx,
                draft.subject,
                final,
                draft.engine if req.status == "approved" else f"edited by {req.decided_by}",
                to,
            )
            if req.status == "approved":
                self.sources = draft.sources
            await self._ticket_status(
                "answered", final, source if req.status == "approved" else None
            )
        self.outcome = req.status
        self.stage = "resolved" if req.status in ("approved", "edited") else "closed"
        self.publish()
        if req.status in ("approved", "edited"):
            await self._until_delivered(policies, ctx, decision)

    async def _until_delivered(
        self, policies: PolicySet, ctx: TicketContext, decision: AutonomyDecision
    ) -> None:
        """Wait for the outbox's word on the reply. Not delivered: the outcome says
        so, and the ticket goes back to a person (the owner was alerted)."""
        if not self.confirm_delivery:
            return
        delivery = await self.delivered("reply", DELIVERY_WAIT)
        if delivery is None:
            self.delivery = "unconfirmed"
            self.publish()
            return
        self.delivery = "delivered" if delivery.status == "sent" else "failed"
        if delivery.status == "sent":
            self.publish()
            return
        self.customer_messages_sent -= 1
        why = f"the reply to {delivery.to} was not delivered: {delivery.last_error}"
        await self._human_task(
            policies, ctx, decision, f"Answer {ctx.ticket.ticket_id} yourself: {why}", why
        )
        self.outcome = "delivery_failed"
        self.publish()

    async def _human_task(
        self,
        policies: PolicySet,
        ctx: TicketContext,
        decision: AutonomyDecision,
        title: str,
        why: str,
    ) -> None:
        """The ticket is a person's to handle: a task, and the ticket's status with it."""
        self.stage = "human task"
        self.human_reasons = [why]
        await self._ticket_status("awaiting_human")
        self.routed = True
        req = await self._ticket_task(policies, ctx, decision, title)
        self.outcome = req.status
        if req.status == "done":
            await self._ticket_status("solved")
        self.stage = "closed"
        self.publish()

    async def _ticket_status(
        self, status: TicketStatus, answer: str | None = None, source: str | None = None
    ) -> None:
        """Keep the ticket's status in the context layer true (runs from
        grounded-replies on; older histories never recorded it)."""
        if not self.grounded:
            return
        self.ticket_status = status
        await activity_runner(self.sooner)(
            ContextActivities.record_ticket_status,
            TicketStatusInput(
                ticket_id=self.ticket_id, status=status, answer=answer, source=source
            ),
            summary=f"ticket {self.ticket_id}: {status}",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    async def _send_reply(
        self, ctx: TicketContext, subject: str, body: str, engine: str, to: list[str]
    ) -> None:
        await self.send(
            "reply",
            f"send reply to {', '.join(to)}",
            audience="customer",
            to=to,
            subject=subject,
            body=body,
            engine=engine,
            confirm=self.confirm_delivery,
        )
        self.customer_messages_sent += 1

    async def _strategic_task(self, policies: PolicySet, ctx: TicketContext, phrase: str) -> None:
        """The agent harvests the signal; the CSM acts on it."""
        decision = evaluate.decide_autonomy(policies, "strategic_ask", ctx.account)
        await self._ticket_task(
            policies,
            ctx,
            decision,
            f'Strategic signal at {ctx.account.name}: "{phrase}" — act on it',
        )

    async def _ticket_task(
        self, policies: PolicySet, ctx: TicketContext, decision: AutonomyDecision, title: str
    ) -> HumanRequest:
        """The CSM (or the manager) takes the ticket on themselves."""
        return await self.ask(
            kind="task",
            decision=decision,
            title=title,
            ladder=policies.routing.approval.ladder(),
            draft=f"{ctx.ticket.subject}\n\n{ctx.ticket.body}",
        )
