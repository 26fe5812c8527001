"""Investigation on demand and the executive QBR narrative.

InvestigationWorkflow (`investigation/{account_id}/{UTC second}` from
`csops investigate`, `qbr/{account_id}/{YYYY-Qn}` from `csops qbr`): the evidence
of the account's last days gathered with a stable id per item, a synthesis whose
every claim cites those ids (offline rules, or a model whose claims citing
anything else are dropped and counted), stored in the context layer, the CSM
told where it is. In qbr mode the narrative drafted from the same claims is an
`executive_qbr_narrative` request at the level the policy gives (copilot as
shipped: the account team decides every time); approving or editing it stores
the final text as the account's QBR, rejecting stores nothing.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.investigation import InvestigationActivities
    from activities.llm_gateway import LlmActivities
    from contracts import names
    from contracts.autonomy import AutonomyLevel
    from contracts.human import HumanRequest, RequestStatus
    from contracts.investigation import (
        Evidence,
        EvidenceInput,
        InvestigationInput,
        InvestigationResult,
        StoredInvestigation,
        StoredQbr,
        StoreInvestigationInput,
        StoreQbrInput,
        Synthesis,
        SynthesisInput,
    )
    from contracts.markdown import md
    from policies import evaluate
    from policies.model import PolicySet

from workflows import reads
from workflows.human import HumanDecisions
from workflows.llm import ask_model
from workflows.options import RECORD_RETRY, RECORD_TIMEOUT, SECTION_TIMEOUT

QBR_ACTION = "executive_qbr_narrative"


@workflow.defn(name=names.INVESTIGATION_WORKFLOW)
class InvestigationWorkflow(HumanDecisions):
    def __init__(self) -> None:
        super().__init__()
        self.inp: InvestigationInput | None = None
        self.synthesis: Synthesis | None = None
        self.stored: StoredInvestigation | None = None

    @workflow.query(name=names.INVESTIGATION_QUERY)
    def investigation(self) -> Synthesis | None:
        """The synthesis, once made (None before)."""
        return self.synthesis

    def details_header(self) -> list[str]:
        a, inp = self.account, self.inp
        qbr = inp is not None and inp.mode == "qbr"
        lines = [
            f"## {'Executive QBR narrative' if qbr else 'Investigation'} · "
            f"{md(a.name) if a else ''}" + (f" · {inp.quarter}" if qbr and inp else "")
        ]
        if a:
            lines.append(f"Account {a.summary_line()}")
        if inp and inp.question:
            lines.append(f"Question: {md(inp.question)}")
        lines.append(f"Stage: **{self.stage}**")
        s = self.synthesis
        if s:
            lines.append(
                f"{len(s.claims)} claim(s) by the {s.engine} engine, each citing its evidence"
                + (
                    f"; {len(s.dropped)} model claim(s) dropped (no or unknown evidence)"
                    if s.dropped
                    else ""
                )
            )
        if self.stored:
            lines.append(
                f"Stored as investigation {self.stored.investigation_id}: "
                f"`csops investigate --show {workflow.info().workflow_id}`"
            )
        return lines

    @workflow.run
    async def run(self, inp: InvestigationInput) -> InvestigationResult:
        self.inp = inp
        self.stage = "gathering evidence"
        policies, account = await asyncio.gather(
            reads.policy_snapshot(local=True), reads.account_facts(inp.account_id, local=True)
        )
        self.set_account(account, only_changes=True)
        self.publish()
        i = InvestigationActivities
        evidence = await workflow.execute_activity_method(
            i.gather_evidence,
            EvidenceInput(account_id=inp.account_id, as_of=workflow.now().date(), days=inp.days),
            summary=f"evidence of the last {inp.days} days",
            start_to_close_timeout=SECTION_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
        self.stage = "synthesising"
        self.publish()
        self.synthesis = synthesis = await self._synthesis(inp, evidence)
        self.stored = stored = await workflow.execute_activity_method(
            i.store_investigation,
            StoreInvestigationInput(
                workflow_id=workflow.info().workflow_id,
                account_id=inp.account_id,
                question=inp.question,
                mode=inp.mode,
                created_at=workflow.now(),
                synthesis=synthesis,
                evidence_ids=evidence.ids(),
            ),
            summary="store the investigation",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
        self.stage = "stored"
        self.publish()
        await self._tell_csm(inp, synthesis, stored)
        result = InvestigationResult(
            workflow_id=workflow.info().workflow_id,
            account_id=inp.account_id,
            mode=inp.mode,
            question=inp.question,
            as_of=evidence.as_of,
            since=evidence.since,
            engine=synthesis.engine,
            claims=synthesis.claims,
            dropped=synthesis.dropped,
            answer_note=synthesis.answer_note,
            evidence=evidence.items,
            stored=stored,
            quarter=inp.quarter,
        )
        if inp.mode == "qbr":
            result = await self._qbr(policies, inp, synthesis, result)
        self.stage = "done"
        self.publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _synthesis(self, inp: InvestigationInput, evidence: Evidence) -> Synthesis:
        """The gateway's synthesis; when the model cannot answer at all (after its
        retries), the offline engine's, labelled so."""
        arg = SynthesisInput(
            workflow_id=workflow.info().workflow_id,
            evidence=evidence,
            question=inp.question,
            mode=inp.mode,
            quarter=inp.quarter,
        )
        try:
            return await ask_model(
                LlmActivities.synthesize_investigation, arg, "synthesis (LLM gateway)"
            )
        except ActivityError as err:
            workflow.logger.warning("no synthesis from the gateway: %s", err.cause)
            return await workflow.execute_activity_method(
                InvestigationActivities.synthesize_offline,
                arg,
                summary="synthesis (offline engine)",
                start_to_close_timeout=SECTION_TIMEOUT,
                retry_policy=RECORD_RETRY,
            )

    async def _tell_csm(
        self, inp: InvestigationInput, synthesis: Synthesis, stored: StoredInvestigation
    ) -> None:
        a = self._account
        wid = workflow.info().workflow_id
        what = "QBR evidence" if inp.mode == "qbr" else "Investigation"
        await self.send(
            "investigation/stored",
            f"tell {a.owner_csm} where the investigation is",
            audience="internal",
            to=[a.owner_csm],
            subject=f"[csops] {what} ready: {a.name}",
            body=(
                f"The {what.lower()} of {a.name} is stored (investigation "
                f"{stored.investigation_id}, workflow {wid}).\n\n"
                + (f"Question: {inp.question}\n" if inp.question else "")
                + f"{len(synthesis.claims)} claim(s) by the {synthesis.engine} engine, each "
                "citing its evidence"
                + (
                    f"; {len(synthesis.dropped)} model claim(s) dropped"
                    if synthesis.dropped
                    else ""
                )
                + f".\n\nRead it: csops investigate --show {wid}\n"
            ),
        )

    async def _qbr(
        self,
        policies: PolicySet,
        inp: InvestigationInput,
        synthesis: Synthesis,
        result: InvestigationResult,
    ) -> InvestigationResult:
        """The narrative at the policy's level: a copilot approval as shipped; an
        autonomous or supervised level stores the draft; off-limits leaves the
        narrative to the account team as a task."""
        a = self._account
        decision = evaluate.decide_autonomy(policies, QBR_ACTION, a)
        ladder = policies.routing.approval.ladder()
        title = f"Executive QBR narrative for {a.name} ({inp.quarter})"
        if decision.level == AutonomyLevel.OFF_LIMITS:
            self.stage = "QBR narrative: a task for the account team"
            task = await self.ask_account_team(
                "task", decision, f"Write the {title} (off-limits for the agent)", ladder
            )
            return result.model_copy(update={"narrative_status": task.status})
        if decision.level in (AutonomyLevel.AUTONOMOUS, AutonomyLevel.SUPERVISED):
            status: RequestStatus = "approved"
            final, by = synthesis.narrative, "agent"
            req: HumanRequest | None = None
        else:
            self.stage = "awaiting the QBR decision"
            req = await self.ask_account_team(
                "approval", decision, title, ladder, synthesis.narrative
            )
            if req.status not in ("approved", "edited"):
                return result.model_copy(update={"narrative_status": req.status})
            final, status, by = req.final_text or "", req.status, req.decided_by or ""
        stored = await self._store_qbr(inp, final, status, by, req)
        await self.send(
            "qbr/stored",
            f"tell {a.owner_csm} the QBR narrative is stored",
            audience="internal",
            to=[a.owner_csm],
            subject=f"[csops] QBR narrative stored: {a.name} ({inp.quarter})",
            body=(
                f"The executive QBR narrative of {a.name} for {inp.quarter} is stored "
                f"({status} by {by}; QBR {stored.qbr_id}, workflow "
                f"{workflow.info().workflow_id}).\n\n{final}"
            ),
        )
        return result.model_copy(
            update={"narrative_status": status, "narrative": final, "qbr": stored}
        )

    async def _store_qbr(
        self,
        inp: InvestigationInput,
        text: str,
        status: RequestStatus,
        by: str,
        req: HumanRequest | None,
    ) -> StoredQbr:
        return await workflow.execute_activity_method(
            InvestigationActivities.store_qbr_narrative,
            StoreQbrInput(
                workflow_id=workflow.info().workflow_id,
                account_id=inp.account_id,
                quarter=inp.quarter or "",
                text=text,
                status=status,
                decided_by=by,
                decided_at=(req.decided_at if req and req.decided_at else workflow.now()),
            ),
            summary="store the QBR narrative",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
