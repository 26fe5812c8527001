"""The LLM gateway: one activity per typed question, answered by the OpenAI
provider when a key is configured, else by the offline engine.

Every attempt goes to the audit log with its engine, model, tokens and latency,
failed ones included.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from temporalio import activity

from activities.records import write_audit
from adapters import offline_engine
from adapters.openai_provider import CallStats, InvalidModelOutput, OpenAIProvider
from adapters.templates import render
from contracts.escalation import AssessTicketInput, DraftReply, DraftReplyInput, TicketAssessment
from contracts.records import AuditEntry
from contracts.renewal import RenewalSummary, RenewalSummaryInput

OFFLINE_MODEL = "offline-rules-v1"
T = TypeVar("T", bound=BaseModel)


class LlmActivities:
    def __init__(self, engine: Engine, provider: OpenAIProvider | None) -> None:
        self._engine = engine
        self._provider = provider

    @property
    def engine_label(self) -> str:
        return self._provider.label if self._provider else offline_engine.ENGINE

    async def _audit(
        self, account_id: str, action: str, outcome: str, stats: CallStats, detail: dict
    ) -> None:
        info = activity.info()
        entry = AuditEntry(
            # One row per attempt: each attempt is a real call that may cost tokens.
            idempotency_key=f"{info.workflow_id}/llm/{info.activity_id}/{info.attempt}",
            at=datetime.now(UTC),
            workflow_id=info.workflow_id,
            account_id=account_id,
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

    async def _answer(
        self, account_id: str, action: str, offline, prompt: str, schema: type[T], **values
    ) -> tuple[T | None, str, CallStats]:
        """Ask the configured engine: (result, "", stats), or (None, why, stats) when
        the model's answer is unusable. The caller audits the final outcome.

        A failed call is audited here and re-raised: Temporal's retry policy decides.
        """
        started = time.perf_counter()
        if self._provider is None:
            result = offline()
            return (
                result,
                "",
                CallStats(OFFLINE_MODEL, 0, round((time.perf_counter() - started) * 1000, 2)),
            )
        try:
            result, stats = await self._provider.structured(
                render(f"prompts/{prompt}.system.md.j2"),
                render(f"prompts/{prompt}.md.j2", **values),
                schema,
            )
        except InvalidModelOutput as err:
            # Unusable output is not retried into something usable: a human reads it.
            return None, str(err), err.stats
        except Exception as err:
            stats = CallStats(
                self._provider.model, 0, round((time.perf_counter() - started) * 1000, 1)
            )
            await self._audit(
                account_id,
                action,
                f"failed: {type(err).__name__}",
                stats,
                {"error": str(err)[:500]},
            )
            raise
        return result.model_copy(update={"engine": self.engine_label}), "", stats

    @activity.defn(name="assess_ticket")
    async def assess_ticket(self, inp: AssessTicketInput) -> TicketAssessment:
        """Intent, sentiment, severity, hot, strategic signal and confidence of a ticket."""
        ctx = inp.context
        result, problem, stats = await self._answer(
            ctx.account.account_id,
            "ticket_classification",
            lambda: offline_engine.assess(ctx),
            "assess_ticket",
            TicketAssessment,
            ctx=ctx,
        )
        if result is None:
            result = TicketAssessment.for_a_human(
                f"model output was unusable ({problem})", f"{self.engine_label} (invalid output)"
            )
        # The rule check runs whatever the engine: a model fooled by the ticket
        # still cannot hide an injection attempt from the policy.
        if (
            self._provider is not None
            and not result.injection_suspected
            and offline_engine.assess(ctx).injection_suspected
        ):
            result = result.model_copy(
                update={
                    "injection_suspected": True,
                    "reasons": [*result.reasons, "rule check: instructions addressed to the agent"],
                }
            )
        await self._audit(
            ctx.account.account_id,
            "ticket_classification",
            "invalid_output" if problem else "assessed",
            stats,
            result.model_dump(mode="json"),
        )
        return result

    @activity.defn(name="summarize_renewal")
    async def summarize_renewal(self, inp: RenewalSummaryInput) -> RenewalSummary:
        """The renewal package's narrative; the figures stay the package's own."""
        p = inp.package
        summary, problem, stats = await self._answer(
            p.account.account_id,
            "renewal_summary",
            lambda: RenewalSummary(text=offline_engine.renewal_summary(p)),
            "renewal_summary",
            RenewalSummary,
            p=p,
        )
        if summary is None:  # unusable model output: the template's narrative instead
            summary = RenewalSummary(
                text=offline_engine.renewal_summary(p),
                engine=f"offline (model output unusable: {problem})"[:200],
            )
        summary = summary.model_copy(update={"engine": summary.engine or self.engine_label})
        await self._audit(
            p.account.account_id,
            "renewal_summary",
            "invalid_output" if problem else "drafted",
            stats,
            {"engine": summary.engine},
        )
        return summary

    @activity.defn(name="draft_reply")
    async def draft_reply(self, inp: DraftReplyInput) -> DraftReply:
        """A reply to the customer; it is only sent at the level the policy gives."""
        ctx = inp.context
        draft, problem, stats = await self._answer(
            ctx.account.account_id,
            "draft_reply",
            lambda: offline_engine.draft_reply(ctx, inp.assessment),
            "draft_reply",
            DraftReply,
            ctx=ctx,
            assessment=inp.assessment,
        )
        if draft is None:
            # Start the human from the template; needs_human makes it a copilot step.
            draft = offline_engine.draft_reply(ctx, inp.assessment).model_copy(
                update={
                    "engine": f"offline (model output unusable: {problem})"[:200],
                    "needs_human": True,
                }
            )
        await self._audit(
            ctx.account.account_id,
            "draft_reply",
            "invalid_output" if problem else "drafted",
            stats,
            {"subject": draft.subject, "engine": draft.engine},
        )
        return draft
