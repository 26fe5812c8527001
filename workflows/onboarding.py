"""OnboardingWorkflow (`onboarding/{account_id}`): the segment's 30-day plan
from policies/onboarding.yaml on durable timers.

Each milestone runs as its own coroutine: on its day it sends its message (or
asks for approval, or gives the CSM a task) at the level the autonomy policy
gives; on its check day it reads real usage; behind plan, the account gets an
intervention, and a re-check decides whether it is Stuck. A `customer_event`
completes a milestone early and withdraws what it no longer needs. `pause` and
`resume` shift the rest of the plan by the paused time. Day 30: the review.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from activities.context_pulls import ContextActivities
    from activities.onboarding import OnboardingActivities
    from activities.records import RecordActivities
    from contracts import names
    from contracts.autonomy import AutonomyDecision, AutonomyLevel
    from contracts.markdown import md
    from contracts.onboarding import (
        CustomerEventInput,
        MilestoneState,
        OnboardingInput,
        OnboardingReview,
        OnboardingReviewInput,
        PauseInput,
        ResumeInput,
        UsageCheckInput,
        UsageCheckResult,
    )
    from contracts.records import RenderInput
    from policies import evaluate
    from policies.model import Ladder, Milestone, OnboardingPolicy, PolicySet, UsageCheck

from workflows import reads
from workflows.human import HumanDecisions
from workflows.options import RECORD_RETRY, RECORD_TIMEOUT
from workflows.required import required

# A CSM task (kickoff call, training) gets days, not hours.
TASK_LADDER = Ladder(
    due=timedelta(days=3),
    remind=timedelta(days=2),
    escalate=timedelta(days=4),
    expire=timedelta(days=7),
)


@workflow.defn(name=names.ONBOARDING_WORKFLOW)
class OnboardingWorkflow(HumanDecisions):
    def __init__(self) -> None:
        super().__init__()
        self.policies: PolicySet | None = None
        self.start: datetime | None = None
        self.paused_since: datetime | None = None
        self.paused_total = timedelta(0)
        self.milestones: dict[str, MilestoneState] = {}
        self.events: list[str] = []
        self.finished = False
        self.milestone_of_request: dict[str, str] = {}
        self._extra: list[str] = []

    # ------------------------------------------------------------------ signals

    @workflow.signal(name=names.CUSTOMER_EVENT_SIGNAL)
    def customer_event(self, raw: RawValue) -> None:
        """Completes the milestone whose `event` matches; anything else is noted."""
        inp = self.signal_input(names.CUSTOMER_EVENT_SIGNAL, raw, CustomerEventInput)
        if inp is None:
            return
        plan = self._plan()
        matching = [m for m in plan if m.event == inp.event] if plan else []
        if not matching:
            self._note_event(f"ignored unknown event {inp.event!r}")
            return
        for m in matching:
            st = self.milestones[m.id]
            if st.status not in ("done",):
                st.status, st.completed_by = "done", f"event {inp.event}"
                # Its message or nudge is no longer needed.
                self.withdraw([r for r, of in self.milestone_of_request.items() if of == m.id])
        self._note_event(
            f"customer event {inp.event!r} completed {', '.join(m.id for m in matching)}"
        )

    # Raw arguments: a payload of the wrong shape is refused and shown, never dropped.
    @workflow.signal(name=names.PAUSE_SIGNAL)
    def pause(self, raw: RawValue) -> None:
        inp = self.signal_input(names.PAUSE_SIGNAL, raw, PauseInput)
        if inp and self.paused_since is None and not self.finished:
            self.paused_since = workflow.now()
            self._note_event(f"paused{': ' + inp.reason if inp.reason else ''}")

    @workflow.signal(name=names.RESUME_SIGNAL)
    def resume(self, raw: RawValue) -> None:
        inp = self.signal_input(names.RESUME_SIGNAL, raw, ResumeInput)
        if inp and self.paused_since is not None:
            self.paused_total += workflow.now() - self.paused_since
            self.paused_since = None
            self._note_event(f"resumed; the plan moved by {self.paused_total}")

    @workflow.query(name=names.ONBOARDING_PLAN_QUERY)
    def onboarding_plan(self) -> list[MilestoneState]:
        return list(self.milestones.values())

    def _note_event(self, text: str) -> None:
        self.events = [*self.events[-9:], f"{workflow.now():%Y-%m-%d %H:%M} {text}"]
        self._refresh()

    # ------------------------------------------------------------------ state set by run()

    @property
    def _policies(self) -> PolicySet:
        return required(self.policies, "the policy snapshot")

    @property
    def _onboarding(self) -> OnboardingPolicy:
        # Optional in PolicySet so old histories decode; the loader always fills it.
        return required(self._policies.onboarding, "the onboarding policy")

    @property
    def _start(self) -> datetime:
        return required(self.start, "the plan's start")

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, inp: OnboardingInput) -> OnboardingReview:
        self.start = workflow.now()
        # The policy and the account are read at once, as local activities (quick
        # reads: no task queue round trip); older runs read them one after the other.
        # The account's search attributes are upserted only where they differ from
        # those the run started with.
        at_once = workflow.patched(names.PATCH_ONBOARDING_READS_AT_ONCE)
        if at_once:
            self.policies, account = await asyncio.gather(
                reads.policy_snapshot(local=True), reads.account_facts(inp.account_id, local=True)
            )
        else:
            self.policies = await reads.policy_snapshot()
            account = await reads.account_facts(inp.account_id)
        self.set_account(account, only_changes=at_once)
        for m in self._plan():
            self.milestones[m.id] = MilestoneState(
                id=m.id,
                title=m.title,
                day=m.day,
                action=m.action,
                autonomy=evaluate.decide_autonomy(self._policies, m.action, self._account).level,
            )
        self._refresh()

        runs = [asyncio.create_task(self._milestone(m)) for m in self._plan()]
        review_day = self._onboarding.review_day
        await self._until_day(review_day, f"day-{review_day} review")
        # The plan is over: what still waits is withdrawn and becomes a risk.
        still_open = [r.request_id for r in self.requests.values() if r.status == "open"]
        self.withdraw(still_open)
        await asyncio.gather(*runs)
        for st in self.milestones.values():
            if st.status in ("scheduled", "in progress"):
                st.status = "missed"

        review: OnboardingReview = await workflow.execute_activity_method(
            OnboardingActivities.write_onboarding_review,
            OnboardingReviewInput(
                account=self.account,
                workflow_id=workflow.info().workflow_id,
                since=self.start.date(),
                until=workflow.now().date(),
                milestones=list(self.milestones.values()),
                open_requests=still_open,
                at=workflow.now(),
            ),
            summary="draft the day-30 review and write it back",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
        self.finished = True
        self.stage = "Completed"
        summary = (
            f"Review: **{review.status}**, {review.activation_level} "
            f"({review.activation_pct}%); next owner {review.next_owner}"
        )
        self._refresh(extra=[summary])
        await workflow.wait_condition(workflow.all_handlers_finished)
        return review

    def _plan(self) -> list[Milestone]:
        if not self.policies or not self.account:
            return []
        plans = self._onboarding.plans
        return (plans.get(self.account.segment) or plans["smb"]).milestones

    def _request_id_for(self, m: Milestone, kind) -> str:
        request_id = self.next_request_id(kind)
        self.milestone_of_request[request_id] = m.id
        return request_id

    # ------------------------------------------------------------------ time

    def _at(self, day: float) -> datetime:
        """When plan day `day` falls, after the time spent paused so far."""
        return self._start + timedelta(days=day) + self.paused_total

    async def _until_day(self, day: float, what: str, done=lambda: False) -> bool:
        """Sleep until plan day `day`, pause-aware. False when `done()` came first."""
        while True:
            if done():
                return False
            if self.paused_since is not None:
                await workflow.wait_condition(lambda: self.paused_since is None or done())
                continue
            remaining = self._at(day) - workflow.now()
            if remaining <= timedelta(0):
                return True
            try:
                await workflow.wait_condition(
                    lambda: self.paused_since is not None or done(),
                    timeout=remaining,
                    timeout_summary=f"day {day:g}: {what}",
                )
            except TimeoutError:
                return True

    async def _unpaused(self) -> None:
        """Nothing leaves while the plan is paused."""
        await workflow.wait_condition(lambda: self.paused_since is None)

    # ------------------------------------------------------------------ milestones

    async def _milestone(self, m: Milestone) -> None:
        st = self.milestones[m.id]
        done = lambda: st.status == "done"  # noqa: E731
        action = None
        if await self._until_day(m.day, m.title, done):
            st.status = "in progress"
            self._refresh()
            action = asyncio.create_task(self._act(m, st))
        if m.check:
            await self._check(m, m.check, st, done)
        if action:
            await action

    async def _act(self, m: Milestone, st: MilestoneState) -> None:
        """The milestone's own step, at the level the policy gives."""
        a = self._account
        decision = evaluate.decide_autonomy(self._policies, m.action, a)
        if decision.level == AutonomyLevel.OFF_LIMITS or not m.template:
            title = f"{m.title}: run it with {a.name}"
            request_id = self._request_id_for(m, "task")
            req = await self.ask_account_team(
                "task", decision, title, TASK_LADDER, None, request_id
            )
            st.message = f"CSM task {req.request_id}: {req.status}"
            if req.status == "done" and st.status != "done":
                st.status, st.completed_by = "done", f"human {req.decided_by}"
            elif req.status == "expired" and st.status != "done":
                st.status = "missed"
            self._refresh()
            return
        st.message = await self._customer_message(
            m, decision, m.template, f"{m.id}/message", values={}
        )
        if not m.check and st.status != "done":
            sent = st.message.startswith("sent")
            st.status, st.completed_by = ("done", "message") if sent else ("missed", None)
        self._refresh()

    async def _check(self, m: Milestone, c: UsageCheck, st: MilestoneState, done) -> None:
        """`c` is `m.check`, passed on so the steps below know it is there."""
        if not await self._until_day(c.by_day, f"check {m.id}", done):
            return
        result = await self._usage(m, c)
        st.last_check = result
        if result.met:
            if st.status != "done":
                st.status, st.completed_by = "done", "usage"
            self._refresh()
            return
        st.status = "behind"
        self._refresh()
        await self._intervene(m, c, st, result, "behind")
        recheck_day = c.by_day + self._onboarding.interventions.recheck_after_days
        if not await self._until_day(recheck_day, f"re-check {m.id}", done):
            return
        st.last_check = await self._usage(m, c)
        if st.last_check.met:
            st.status, st.completed_by = "done", "usage (late)"
        else:
            st.status = "stuck"
            await self._alert_csm(m, c, st, "stuck")
        self._refresh()

    async def _usage(self, m: Milestone, c: UsageCheck) -> UsageCheckResult:
        return await workflow.execute_activity_method(
            ContextActivities.check_usage,
            UsageCheckInput(
                account_id=self._account.account_id,
                feature=c.feature,
                measure=c.measure,
                since=self._start.date(),
                until=workflow.now().date(),
                at_least=c.at_least,
            ),
            summary=f"activation check {m.id}: {c.feature} {c.measure} >= {c.at_least:g}",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    async def _intervene(
        self,
        m: Milestone,
        c: UsageCheck,
        st: MilestoneState,
        result: UsageCheckResult,
        status: str,
    ) -> None:
        """Behind plan (`result` is the check that found it): a nudge at the policy's
        level, and a CSM alert for larger accounts."""
        a = self._account
        decision = evaluate.decide_autonomy(self._policies, "onboarding_nudge", a)
        alert = a.arr >= self._onboarding.interventions.csm_alert_arr_at_least
        nudge = None
        if m.nudge:
            st.nudged = True
            nudge = asyncio.create_task(
                self._customer_message(
                    m,
                    decision,
                    m.nudge,
                    f"{m.id}/nudge",
                    values={"check": result.model_dump(mode="json")},
                )
            )
        if alert:
            await self._alert_csm(
                m, c, st, status, nudge_level=decision.level.value if m.nudge else None
            )
        if nudge:
            await nudge

    async def _alert_csm(
        self,
        m: Milestone,
        c: UsageCheck,
        st: MilestoneState,
        status: str,
        nudge_level: str | None = None,
    ) -> None:
        a = self._account
        notify = evaluate.decide_autonomy(self._policies, "internal_notification", a)
        await self.send(
            f"{m.id}/alert-{status}",
            f"alert {a.owner_csm}: {m.id} {status}",
            audience="internal",
            to=[a.owner_csm],
            subject=f"[csops] Onboarding {status}: {a.name} — {m.title}",
            template="messages/onboarding/csm_alert.md.j2",
            values={
                "account": a.model_dump(mode="json"),
                "status": status,
                "milestone": m.model_dump(mode="json"),
                "check": {
                    **c.model_dump(mode="json"),
                    "value": st.last_check.value if st.last_check else 0,
                },
                "nudged": nudge_level is not None,
                "nudge_level": nudge_level,
                "workflow_id": workflow.info().workflow_id,
            },
        )
        await self.audit(
            f"{m.id}/alert-{status}",
            "internal_notification",
            "sent",
            decision=notify,
            detail={"milestone": m.id, "status": status},
        )

    async def _customer_message(
        self, m: Milestone, decision: AutonomyDecision, template: str, key: str, values: dict
    ) -> str:
        """Send (or ask to send) one templated message; returns what happened to it."""
        a = self._account
        st = self.milestones[m.id]
        subject = f"{a.name}: {m.title}"
        message: dict[str, Any] = {
            "audience": "customer",
            "to": [a.primary_contact_email or a.owner_csm],
            "subject": subject,
            "template": f"messages/{template}",
            "engine": "template",
            "values": {
                "account": a.model_dump(mode="json"),
                "contact_name": (a.primary_contact_name or "there").split(" ")[0],
                **values,
            },
        }
        if decision.level in (AutonomyLevel.AUTONOMOUS, AutonomyLevel.SUPERVISED):
            await self._unpaused()
            if st.status == "done" and key.endswith("nudge"):
                return "not needed"
            await self.agent_sends(
                self._policies,
                decision,
                key,
                f"send {key} to the customer",
                detail={"milestone": m.id},
                **message,
            )
            return f"sent ({decision.level.value})"
        if decision.level == AutonomyLevel.OFF_LIMITS:
            return "off-limits: not sent"
        draft = await self._render_preview(template, message["values"])
        nudge = " (nudge)" if key.endswith("nudge") else ""
        req, _ = await self.ask_until_allowed(
            lambda now: evaluate.decide_autonomy(now, m.action, a),
            lambda: self._request_id_for(m, "approval"),
            kind="approval",
            decision=decision,
            title=f"Approve the message to {a.name}: {m.title}{nudge}",
            ladder=self._policies.routing.approval.ladder(),
            draft=draft,
        )
        if req.superseded:
            return f"not sent: {req.superseded}"
        if req.status in ("approved", "edited"):
            await self._unpaused()
            await self.send(
                key, f"send approved {key}", **{**message, "template": None, "body": req.final_text}
            )
            return f"sent after {req.status} by {req.decided_by}"
        return req.status

    async def _render_preview(self, template: str, values: dict) -> str:
        """The exact text a human approves (rendering is I/O: an activity)."""
        return await workflow.execute_activity_method(
            RecordActivities.render_message,
            RenderInput(template=f"messages/{template}", values=values),
            summary=f"render {template}",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    # ------------------------------------------------------------------ visibility

    def _status(self) -> str:
        if self.finished:
            return "Completed"
        if self.paused_since is not None:
            return "Paused"
        states = [m.status for m in self.milestones.values()]
        if "stuck" in states:
            return "Stuck"
        return "Behind" if any(s in ("behind", "missed") for s in states) else "On track"

    def _refresh(self, extra: list[str] | None = None) -> None:
        self.stage = self._status()
        self._extra = extra or self._extra
        self.publish()

    def details_header(self) -> list[str]:
        a = self.account
        if not a:
            return ["## Onboarding: starting"]
        lines = [
            f"## Onboarding · {a.name}",
            f"Account {a.summary_line()}",
            f"Status: **{self.stage}**"
            + (f" · plan shifted by {self.paused_total} of pauses" if self.paused_total else ""),
            *self._extra,
            "",
            "| day | milestone | level | status | when |",
            "| --- | --- | --- | --- | --- |",
        ]
        for m in self.milestones.values():
            how = m.completed_by or m.message or ""
            lines.append(
                f"| {m.day} | {md(m.title)} | {m.autonomy.value if m.autonomy else ''} | "
                f"**{m.status}** {md(how)} | {self._at(m.day):%Y-%m-%d} |"
            )
        if self.events:
            lines += ["", "Events: " + md("; ".join(self.events[-5:]))]  # signals' words
        return lines
