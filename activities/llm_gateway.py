"""The LLM gateway: one activity per typed question, answered by the OpenAI
provider when a key is configured, else by the offline engine.

Every attempt goes to the audit log with its engine, model, tokens and latency,
failed ones included.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from temporalio import activity

from activities import investigation
from activities.records import write_audit
from adapters import offline_engine
from adapters.knowledge import Candidate, KnowledgeBase
from adapters.openai_provider import CallStats, InvalidModelOutput, OpenAIProvider
from adapters.reading.reader import commitments_in
from adapters.templates import render
from contracts.escalation import (
    AssessTicketInput,
    DraftReply,
    DraftReplyInput,
    ModelDraft,
    TicketAssessment,
)
from contracts.investigation import ModelSynthesis, Synthesis, SynthesisInput
from contracts.knowledge import Grounding
from contracts.records import AuditEntry
from contracts.renewal import RenewalSummary, RenewalSummaryInput

OFFLINE_MODEL = "offline-rules-v1"
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Question(Generic[T]):
    """One typed question: the action it is audited as, its prompt templates
    (`prompts/<prompt>.system.md.j2` and `.md.j2`) and the schema of the answer."""

    action: str
    prompt: str
    schema: type[T]


ASSESS = Question("ticket_classification", "assess_ticket", TicketAssessment)
SUMMARIZE = Question("renewal_summary", "renewal_summary", RenewalSummary)
DRAFT = Question("draft_reply", "draft_reply", ModelDraft)
INVESTIGATE = Question("investigation", "investigation", ModelSynthesis)


class LlmActivities:
    def __init__(
        self, engine: Engine, provider: OpenAIProvider | None, knowledge: KnowledgeBase
    ) -> None:
        self._engine = engine
        self._provider = provider
        self._knowledge = knowledge

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
        self, account_id: str, question: Question[T], offline: Callable[[], T], **values: Any
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
                render(f"prompts/{question.prompt}.system.md.j2"),
                render(f"prompts/{question.prompt}.md.j2", **values),
                question.schema,
            )
        except InvalidModelOutput as err:
            # Unusable output is not retried into something usable: a human reads it.
            return None, str(err), err.stats
        except Exception as err:
            stats = CallStats(
                self._provider.model, 0, round((time.perf_counter() - started) * 1000, 1)
            )
            failed = f"failed: {type(err).__name__}"
            await self._audit(account_id, question.action, failed, stats, {"error": str(err)[:500]})
            raise
        return result.model_copy(update={"engine": self.engine_label}), "", stats

    @activity.defn(name="assess_ticket")
    async def assess_ticket(self, inp: AssessTicketInput) -> TicketAssessment:
        """Intent, sentiment, severity, hot, strategic signal and confidence of a ticket."""
        ctx = inp.context
        result, problem, stats = await self._answer(
            ctx.account.account_id, ASSESS, lambda: offline_engine.assess(ctx), ctx=ctx
        )
        if result is None:
            result = TicketAssessment.for_a_human(
                f"model output was unusable ({problem})", f"{self.engine_label} (invalid output)"
            )
        if self._provider is not None:
            # The rule reading is a floor under the model, whatever the model said.
            result = offline_engine.with_rule_floor(result, ctx)
        outcome = "invalid_output" if problem else "assessed"
        detail = result.model_dump(mode="json")
        await self._audit(ctx.account.account_id, ASSESS.action, outcome, stats, detail)
        return result

    @activity.defn(name="summarize_renewal")
    async def summarize_renewal(self, inp: RenewalSummaryInput) -> RenewalSummary:
        """The renewal package's narrative; the figures stay the package's own."""
        p = inp.package
        offline = lambda: RenewalSummary(text=offline_engine.renewal_summary(p))  # noqa: E731
        summary, problem, stats = await self._answer(p.account.account_id, SUMMARIZE, offline, p=p)
        if summary is None:  # unusable model output: the template's narrative instead
            summary = RenewalSummary(
                text=offline_engine.renewal_summary(p),
                engine=f"offline (model output unusable: {problem})"[:200],
            )
        summary = summary.model_copy(update={"engine": summary.engine or self.engine_label})
        outcome = "invalid_output" if problem else "drafted"
        detail = {"engine": summary.engine}
        await self._audit(p.account.account_id, SUMMARIZE.action, outcome, stats, detail)
        return summary

    @activity.defn(name="draft_reply")
    async def draft_reply(self, inp: DraftReplyInput) -> DraftReply:
        """A reply grounded in the knowledge base; it is only sent at the level the
        policy gives, and only when it cites a source."""
        ctx, assessment = inp.context, inp.assessment
        grounding = inp.grounding or Grounding()
        question = f"{ctx.ticket.subject}\n{ctx.ticket.body}"
        candidates = await asyncio.to_thread(self._knowledge.find, question, assessment.language)
        grounded = lambda: offline_engine.draft_reply(ctx, assessment, candidates, grounding)  # noqa: E731
        if self._provider is None:
            draft, problem, stats = grounded(), "", CallStats(OFFLINE_MODEL, 0, 0.0)
        else:
            answer, problem, stats = await self._answer(
                ctx.account.account_id, DRAFT, lambda: ModelDraft(subject="", body=""),
                ctx=ctx, assessment=assessment, candidates=candidates,
            )  # fmt: skip
            if answer is None:
                # Start the human from the grounded draft; the model's failure is noted.
                draft = grounded().model_copy(update={
                    "engine": f"offline (model output unusable: {problem})"[:200],
                    "needs_human": True,
                })  # fmt: skip
            else:
                draft = self._checked(
                    answer, candidates, offline_engine.reply_subject(ctx, assessment.language)
                )
        outcome = "invalid_output" if problem else "drafted"
        detail = {
            "subject": draft.subject, "engine": draft.engine,
            "sources": [r.source_id for r in draft.sources],
            "candidates": [r.source_id for r in draft.candidates],
            "not_sendable": draft.not_sendable,
        }  # fmt: skip
        await self._audit(ctx.account.account_id, DRAFT.action, outcome, stats, detail)
        return draft

    @activity.defn(name="synthesize_investigation")
    async def synthesize_investigation(self, inp: SynthesisInput) -> Synthesis:
        """Where the account is at risk and why, what goes well, what to do next, as
        claims citing the evidence (and the QBR draft in qbr mode). A model's claim
        citing no evidence, or an id it was not given, is dropped and counted."""
        e, account_id = inp.evidence, inp.evidence.account.account_id
        if self._provider is None:
            result = await asyncio.to_thread(investigation.offline_synthesis, inp)
            problem, stats = "", CallStats(OFFLINE_MODEL, 0, 0.0)
        else:
            answer, problem, stats = await self._answer(
                account_id, INVESTIGATE, lambda: ModelSynthesis(claims=[]),
                e=e, asked=inp.question, mode=inp.mode,
            )  # fmt: skip
            if answer is None:  # unusable output: the rules' synthesis, labelled so
                engine = f"offline (model output unusable: {problem})"[:200]
                result = await asyncio.to_thread(investigation.offline_synthesis, inp, engine)
            else:
                claims, dropped = investigation.checked_claims(answer, e)
                note = (
                    f"Answered by {self.engine_label}: the question went to the model "
                    "with the evidence."
                    if inp.question
                    else ""
                )
                result = investigation.finished(inp, claims, self.engine_label, note, dropped)
        outcome = "invalid_output" if problem else "synthesized"
        detail = {"engine": result.engine, "claims": len(result.claims),
                  "dropped": len(result.dropped)}  # fmt: skip
        await self._audit(account_id, INVESTIGATE.action, outcome, stats, detail)
        return result

    def _checked(self, answer: ModelDraft, candidates: list[Candidate], subject: str) -> DraftReply:
        """The model's draft, with what makes it unsendable: no citation, a citation
        of a source it was not given, or a commitment only a human may make."""
        given = {c.ref.source_id: c.ref for c in candidates}
        cited = list(dict.fromkeys(answer.cited_source_ids))
        problems = []
        if not answer.body.strip():
            problems.append("the model's draft is empty")
        if not cited:
            problems.append("the model cited no source")
        unknown = [c for c in cited if c not in given]
        if unknown:
            problems.append(f"the model cited sources it was not given: {', '.join(unknown)}")
        promised = commitments_in(f"{answer.subject}\n{answer.body}")
        if promised:
            problems.append(
                f"the draft makes commitments only a human may make: {', '.join(promised)}"
            )
        if answer.needs_human:
            problems.append("the model asked for a human")
        return DraftReply(
            subject=subject,
            body=answer.body,
            engine=self.engine_label,
            # needs_human stays False: not_sendable moves it to a human, with the reasons
            sources=[given[c] for c in cited if c in given],
            candidates=[c.ref for c in candidates],
            notes=[f"Not sendable as it stands: {p}." for p in problems],
            not_sendable="; ".join(problems) or None,
        )
