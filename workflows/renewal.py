"""Renewal pre-call packages.

RenewalPackageWorkflow (`renewal/{account_id}/{renewal_date}`): the five
sections in parallel, one artifact (Markdown + HTML) stored in the context
layer, the CSM notified; the pricing recommendation is a copilot request and
signing the renewal an off-limits human task. The agent sends and signs nothing.

RenewalSweepWorkflow (started nightly by the Schedule `renewal-sweep-nightly`):
starts one package per account whose renewal enters the window, in batches,
continuing as new on very large books. Safe to run twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.llm_gateway import LlmActivities
    from activities.renewal_sections import RenewalSectionActivities
    from activities.renewal_sweep import SweepActivities
    from contracts import names
    from contracts.human import HumanRequest
    from contracts.renewal import (
        RenewalPackage,
        RenewalPackageInput,
        RenewalPackageResult,
        RenewalSummaryInput,
        SectionInput,
        StoredPackage,
        StorePackageInput,
    )
    from contracts.sweep import SweepBatchInput, SweepCounts, SweepInput, SweepReport
    from policies import evaluate
    from policies.model import Ladder, PolicySet
    from policies.pricing import pricing_proposal

from workflows import reads
from workflows.human import HumanDecisions
from workflows.llm import ask_model
from workflows.options import (
    RECORD_RETRY,
    RECORD_TIMEOUT,
    SECTION_TIMEOUT,
    run_is_full,
)
from workflows.required import required

T = TypeVar("T")


async def _section(
    method: Callable[[RenewalSectionActivities, SectionInput], T],
    section: SectionInput,
    summary: str,
) -> T:
    """One section of the package, computed by its activity."""
    return await workflow.execute_activity_method(
        method,
        section,
        summary=summary,
        start_to_close_timeout=SECTION_TIMEOUT,
        retry_policy=RECORD_RETRY,
    )


def _pricing_text(package: RenewalPackage) -> str:
    p = package.pricing
    headline = (
        f"Current ARR ${p.current_arr:,.0f} → proposed ${p.proposed_arr:,.0f} "
        f"({p.change_pct:+.1f}%)"
    )
    lines = [headline, *(f"- {r}" for r in p.rationale)]
    return "\n".join(lines)


@workflow.defn(name=names.RENEWAL_PACKAGE_WORKFLOW)
class RenewalPackageWorkflow(HumanDecisions):
    def __init__(self) -> None:
        super().__init__()
        self.renewal_date: date | None = None
        self.artifact: StoredPackage | None = None
        self.risk_level: str | None = None

    @workflow.query(name=names.RENEWAL_ARTIFACT_QUERY)
    def renewal_artifact(self) -> StoredPackage | None:
        """Where the package is, once it is stored (None before)."""
        return self.artifact

    def details_header(self) -> list[str]:
        a = self.account
        lines = [f"## Renewal package · {a.name if a else ''} · renews {self.renewal_date}"]
        if a:
            lines.append(f"Account {a.summary_line()}")
        lines.append(
            f"Stage: **{self.stage}**"
            + (f" · risk **{self.risk_level}**" if self.risk_level else "")
        )
        if self.artifact:
            if self.artifact.url:
                lines.append(f"**[Open the renewal brief]({self.artifact.url})**")
            lines.append(
                f"Artifact: `{self.artifact.html_path}` (HTML), "
                f"`{self.artifact.markdown_path}` (Markdown)"
            )
        lines.append(
            "The agent sends nothing and signs nothing: pricing is the CSM's "
            "decision, signing a human task."
        )
        return lines

    @workflow.run
    async def run(self, inp: RenewalPackageInput) -> RenewalPackageResult:
        self.renewal_date = inp.renewal_date
        self.stage = "gathering"
        # The policy and the account are read at once, and every section in one
        # activity, all as local activities (quick reads: no task queue round trip,
        # each table read once). Older packages read them one activity each.
        one_read = workflow.patched(names.PATCH_RENEWAL_ONE_READ)
        if one_read:
            policies, account = await asyncio.gather(
                reads.policy_snapshot(local=True), reads.account_facts(inp.account_id, local=True)
            )
        else:
            policies = await reads.policy_snapshot()
            account = await reads.account_facts(inp.account_id)
        self.set_account(account, only_changes=one_read)  # not those it started with
        self.publish()

        section = SectionInput(
            account_id=inp.account_id, renewal_date=inp.renewal_date, as_of=workflow.now().date()
        )
        s = RenewalSectionActivities
        if one_read:
            got = await workflow.execute_local_activity_method(
                s.renewal_sections,
                section,
                summary="sections: usage, ROI, risk, expansion, decision makers, terms",
                start_to_close_timeout=SECTION_TIMEOUT,
                retry_policy=RECORD_RETRY,
            )
            usage, roi, risk, expansion, people, terms = (
                got.usage,
                got.roi,
                got.risk,
                got.expansion,
                got.decision_makers,
                got.terms_requests,
            )
            commercial = got.commercial
        else:
            usage, roi, risk, expansion, people, terms = await self._sections_one_by_one(section)
            commercial = []
        package = RenewalPackage(
            account=account,
            renewal_date=inp.renewal_date,
            as_of=section.as_of,
            usage=usage,
            roi=roi,
            risk=risk,
            expansion=expansion,
            decision_makers=people,
            pricing=pricing_proposal(account, risk, expansion),
            terms_requests=terms,
            commercial=commercial,
        )
        if workflow.patched(names.PATCH_RENEWAL_SUMMARY):  # older packages replay without it
            package = await self._with_summary(package)
        self.risk_level = risk.level
        artifact = await workflow.execute_activity_method(
            s.store_renewal_package,
            StorePackageInput(workflow_id=workflow.info().workflow_id, package=package),
            summary="render and store the package (Markdown + HTML)",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
        self.artifact = artifact
        self.stage = "package ready"
        self.publish()
        await self._notify_ready(package, artifact)

        pricing, signing, *_ = await asyncio.gather(
            self._pricing_request(policies, package, artifact),
            self._signing_task(policies, package),
            *([self._terms_task(policies, package)] if package.terms_requests else []),
        )
        self.stage = "closed"
        self.publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return RenewalPackageResult(
            workflow_id=workflow.info().workflow_id,
            account_id=inp.account_id,
            renewal_date=inp.renewal_date,
            artifact=artifact,
            risk_level=risk.level,
            pricing_status=pricing.status,
            signing_task_status=signing.status,
        )

    async def _sections_one_by_one(self, section: SectionInput) -> tuple[Any, ...]:
        """The sections as packages started before `renewal-one-read` gather them:
        one activity each, in parallel."""
        s = RenewalSectionActivities
        sections: list[Awaitable[Any]] = [
            _section(s.usage_report, section, "usage report: 90-day trends"),
            _section(s.roi_proof, section, "ROI proof"),
            _section(s.risk_assessment, section, "risk assessment"),
            _section(s.expansion_recommendation, section, "expansion recommendation"),
            _section(s.decision_maker_map, section, "decision-maker map"),
        ]
        # Packages started before the terms check keep their recorded commands.
        if workflow.patched(names.PATCH_RENEWAL_TERMS_REQUESTS):
            sections.append(
                _section(s.find_terms_requests, section, "non-standard terms requested?")
            )
        usage, roi, risk, expansion, people, *rest = await asyncio.gather(*sections)
        return usage, roi, risk, expansion, people, rest[0] if rest else []

    async def _with_summary(self, package: RenewalPackage) -> RenewalPackage:
        """The narrative from the LLM gateway; without it the package still ships."""
        try:
            summary = await ask_model(
                LlmActivities.summarize_renewal,
                RenewalSummaryInput(workflow_id=workflow.info().workflow_id, package=package),
                "narrative for the CSM (LLM gateway)",
            )
        except ActivityError as err:
            workflow.logger.warning("no renewal summary: %s", err.cause)
            return package
        return package.model_copy(
            update={"summary": summary.text, "summary_engine": summary.engine}
        )

    async def _notify_ready(self, package: RenewalPackage, artifact: StoredPackage) -> None:
        a = self._account
        await self.send(
            "package/ready",
            f"tell {a.owner_csm} the package is ready",
            audience="internal",
            to=[a.owner_csm],
            subject=f"[csops] Renewal package ready: {a.name} (renews {package.renewal_date})",
            body=(
                f"The pre-call package for {a.name} is ready.\n\n"
                + (f"Open the brief: {artifact.url}\n\n" if artifact.url else "")
                + f"HTML: {artifact.html_path}\nMarkdown: {artifact.markdown_path}\n\n"
                f"Risk: {package.risk.level} ({'; '.join(package.risk.evidence) or 'none'})\n"
                f"Pricing waits for your decision on {workflow.info().workflow_id}.\n"
            ),
        )

    async def _pricing_request(
        self, policies: PolicySet, package: RenewalPackage, artifact: StoredPackage
    ) -> HumanRequest:
        """Renewal pricing is copilot by policy: the CSM decides every time."""
        a = self._account
        decision = evaluate.decide_autonomy(policies, "renewal_pricing", a)
        # The "stored" audit belongs after store_renewal_package, but running packages
        # recorded it here: moving it would reorder their commands and break replay.
        await self.audit(
            "package/stored",
            "renewal_package",
            "stored",
            decision=None,
            engine="data+templates",
            detail={"risk": package.risk.level, "html": artifact.html_path},
        )
        self.stage = "awaiting pricing decision"
        title = f"Decide the renewal pricing for {a.name}"
        ladder = policies.routing.approval.ladder()
        return await self.ask_account_team(
            "approval", decision, title, ladder, _pricing_text(package)
        )

    async def _terms_task(self, policies: PolicySet, package: RenewalPackage) -> HumanRequest:
        """Non-standard terms are off-limits: the agent neither drafts nor answers."""
        a = self._account
        decision = evaluate.decide_autonomy(policies, "non_standard_terms", a)
        title = f"{a.name} asked for non-standard terms: handle them with legal (off-limits for the agent)"
        ladder = policies.routing.approval.ladder()
        return await self.ask_account_team(
            "task", decision, title, ladder, "\n".join(package.terms_requests)
        )

    async def _signing_task(self, policies: PolicySet, package: RenewalPackage) -> HumanRequest:
        """Signing is off-limits: it exists only as a human task, open until the renewal."""
        a = self._account
        decision = evaluate.decide_autonomy(policies, "sign_renewal", a)
        renewal_at = datetime.combine(package.renewal_date, time(), tzinfo=UTC)
        until_renewal = max(timedelta(days=1), renewal_at - workflow.now())
        grace = timedelta(days=policies.renewal.signing_grace_days if policies.renewal else 14)
        ladder = Ladder(
            due=until_renewal,
            remind=until_renewal * 0.5,
            escalate=until_renewal * 0.8,
            expire=until_renewal + grace,
        )
        title = f"Sign the {package.renewal_date} renewal with {a.name} (off-limits for the agent)"
        return await self.ask_account_team("task", decision, title, ladder)


@workflow.defn(name=names.RENEWAL_SWEEP_WORKFLOW)
class RenewalSweepWorkflow:
    """Nightly: one package per renewal entering the window; counts what it did."""

    def __init__(self) -> None:
        self.totals = SweepCounts()
        self.progress = "starting"

    @workflow.query(name=names.SWEEP_PROGRESS_QUERY)
    def sweep_progress(self) -> SweepCounts:
        return self.totals

    @workflow.run
    async def run(self, inp: SweepInput) -> SweepReport:
        policies = await reads.policy_snapshot()
        # Optional in PolicySet so old histories decode; the loader always fills it.
        r = required(policies.renewal, "the renewal policy")
        as_of = inp.as_of or workflow.now().date()
        window_end = as_of + timedelta(days=r.window_days)
        self.totals = inp.totals
        cursor, batches = inp.after_account_id, inp.batches_done
        while True:
            self._show(as_of, window_end, batches)
            batch = await workflow.execute_activity_method(
                SweepActivities.start_renewal_batch,
                SweepBatchInput(
                    as_of=as_of,
                    window_days=r.window_days,
                    after_account_id=cursor,
                    batch_size=r.sweep.batch_size,
                    concurrency=r.sweep.concurrency,
                    task_queue=workflow.info().task_queue,
                ),
                summary=f"batch {batches + 1}: start packages after {cursor or 'the first account'}",
                start_to_close_timeout=timedelta(minutes=20),
                heartbeat_timeout=timedelta(minutes=2),
            )
            c = batch.counts
            self.totals = SweepCounts(
                started=self.totals.started + c.started,
                skipped=self.totals.skipped + c.skipped,
                failed=self.totals.failed + c.failed,
                failures=[*self.totals.failures, *c.failures][:20],
            )
            cursor, batches = batch.last_account_id, batches + 1
            if batch.done:
                break
            if run_is_full(batches - inp.batches_done, r.sweep.batches_per_run):
                workflow.continue_as_new(
                    SweepInput(
                        as_of=as_of,
                        after_account_id=cursor,
                        totals=self.totals,
                        batches_done=batches,
                    )
                )
        self._show(as_of, window_end, batches, done=True)
        return SweepReport(as_of=as_of, window_end=window_end, counts=self.totals, batches=batches)

    def _show(self, as_of, window_end, batches: int, done: bool = False) -> None:
        t = self.totals
        workflow.set_current_details(
            f"## Renewal sweep for {as_of}\n"
            f"Renewals from {as_of} to {window_end}.\n\n"
            f"{'Done' if done else 'Running'} after {batches} batch(es): "
            f"**{t.started} started**, {t.skipped} skipped (package exists), {t.failed} failed"
            + ("".join(f"\n- {f}" for f in t.failures[:5]) if t.failures else "")
        )
