"""The LLM gateway: one activity per typed question, answered by the OpenAI
provider when a key is configured, else by the offline engine.

Every call goes to the audit log with its engine, model, tokens and latency.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from sqlalchemy.engine import Engine
from temporalio import activity

from activities import offline_engine
from activities.openai_provider import CallStats, InvalidModelOutput, OpenAIProvider
from activities.records import write_audit
from csops.models import (
    AssessTicketInput,
    AuditEntry,
    DraftReply,
    DraftReplyInput,
    TicketAssessment,
)
from csops.templates import render

OFFLINE_MODEL = "offline-rules-v1"


class LlmActivities:
    def __init__(self, engine: Engine, provider: OpenAIProvider | None) -> None:
        self._engine = engine
        self._provider = provider

    @property
    def engine_label(self) -> str:
        return self._provider.label if self._provider else offline_engine.ENGINE

    async def _audit(self, inp, action: str, outcome: str, stats: CallStats, detail: dict) -> None:
        info = activity.info()
        entry = AuditEntry(
            # One row per attempt: each attempt is a real call that cost tokens.
            idempotency_key=f"{info.workflow_id}/llm/{info.activity_id}/{info.attempt}",
            at=datetime.now(timezone.utc),
            workflow_id=info.workflow_id,
            account_id=inp.context.account.account_id,
            actor="agent",
            action=action,
            outcome=outcome,
            engine=self.engine_label,
            detail=detail,
        )
        await asyncio.to_thread(
            write_audit,
            self._engine,
            entry,
            model=stats.model,
            tokens=stats.tokens,
            latency_ms=stats.latency_ms,
        )

    @activity.defn(name="assess_ticket")
    async def assess_ticket(self, inp: AssessTicketInput) -> TicketAssessment:
        """Intent, sentiment, severity, hot, strategic signal and confidence of a ticket."""
        started = time.perf_counter()
        if self._provider is None:
            result = offline_engine.assess(inp.context)
            stats = CallStats(OFFLINE_MODEL, 0, round((time.perf_counter() - started) * 1000, 2))
            outcome = "assessed"
        else:
            try:
                result, stats = await self._provider.structured(
                    render("prompts/assess_ticket.system.md.j2"),
                    render("prompts/assess_ticket.md.j2", ctx=inp.context),
                    TicketAssessment,
                )
                result = result.model_copy(update={"engine": self.engine_label})
                outcome = "assessed"
            except InvalidModelOutput as err:
                # Unusable output is not retried into something usable: a human reads it.
                result = TicketAssessment(
                    intent="other",
                    sentiment=0,
                    severity="medium",
                    hot=False,
                    confidence=0,
                    needs_human=True,
                    reasons=[f"model output was unusable ({err})"],
                    engine=f"{self.engine_label} (invalid output)",
                )
                stats, outcome = err.stats, "invalid_output"
        # The rule check runs whatever the engine: a model fooled by the ticket
        # still cannot hide an injection attempt from the policy.
        rules = offline_engine.assess(inp.context)
        if rules.injection_suspected and not result.injection_suspected:
            result = result.model_copy(
                update={
                    "injection_suspected": True,
                    "reasons": [*result.reasons, "rule check: instructions addressed to the agent"],
                }
            )
        await self._audit(
            inp, "ticket_classification", outcome, stats, result.model_dump(mode="json")
        )
        return result

    @activity.defn(name="draft_reply")
    async def draft_reply(self, inp: DraftReplyInput) -> DraftReply:
        """A reply to the customer; it is only sent at the level the policy gives."""
        started = time.perf_counter()
        if self._provider is None:
            draft = offline_engine.draft_reply(inp.context, inp.assessment)
            stats = CallStats(OFFLINE_MODEL, 0, round((time.perf_counter() - started) * 1000, 2))
            outcome = "drafted"
        else:
            try:
                draft, stats = await self._provider.structured(
                    render("prompts/draft_reply.system.md.j2"),
                    render("prompts/draft_reply.md.j2", ctx=inp.context, assessment=inp.assessment),
                    DraftReply,
                )
                draft = draft.model_copy(update={"engine": self.engine_label})
                outcome = "drafted"
            except InvalidModelOutput as err:
                # Start the human from the template; the workflow sees needs_human.
                draft = offline_engine.draft_reply(inp.context, inp.assessment)
                draft = draft.model_copy(
                    update={"engine": f"offline (model output unusable: {err})"[:200],
                            "needs_human": True}
                )
                stats, outcome = err.stats, "invalid_output"
        await self._audit(inp, "draft_reply", outcome, stats, {"subject": draft.subject})
        return draft
