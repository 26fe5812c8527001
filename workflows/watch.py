"""AccountWatchWorkflow (`health/{account_id}`, type `AccountWatch`): one per
account, always on. The nightly health sweep records each account's score and
signals its watch with what it found (`health_scored`, signal-with-start, so the
first night starts it). Each night the watch:

- shows the health: the `CsopsHealth` search attribute (and the account's own),
  and current details with score, band, trend, weakest component and what the
  agents did;
- the Risk agent, on what is new tonight (a worse band, a usage anomaly not seen
  the night before, NPS detractors): an alert to the owner CSM
  (`usage_anomaly_alert`), a health summary from the components' evidence
  (`health_summary`), each at the autonomy policy's level; for accounts at or
  above the health policy's ARR a CSM task; one internal ticket on the webhook per
  dip (a worse band, each detractor; once per dip key);
- the Growth agent, when usage outgrows the plan and tonight brings no risk: an
  expansion play (`expansion_play`) at the policy's level. Supervised or
  autonomous, it goes to the CSM only; copilot, the drafted outreach waits for
  the account team and goes to the customer's primary contact only once approved
  (or edited); off-limits, the CSM gets a task.

Human requests never hold up the next night: they wait in the background. The
history stays bounded: after a month of nights (or when the server suggests it)
and with no request open, the watch continues as new carrying what it knows.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.records import RecordActivities
    from activities.watch import WatchActivities
    from contracts import names
    from contracts import search_attributes as sa
    from contracts.autonomy import AutonomyDecision, AutonomyLevel
    from contracts.health import InternalTicketInput, WatchFindings
    from contracts.markdown import md
    from contracts.records import RenderInput
    from contracts.watch import WatchNight, WatchState
    from policies import evaluate
    from policies.model import PolicySet

from workflows import reads
from workflows.human import HumanDecisions
from workflows.onboarding import TASK_LADDER
from workflows.options import RECORD_RETRY, RECORD_TIMEOUT
from workflows.required import required

# A month of nights per run: each night's reads and actions stay a small history.
NIGHTS_PER_RUN = 30
# The server refuses signals past its limit per run (150 with `csops server`'s
# tuning): sweeps run again on the same day also end a run well before it.
SIGNALS_PER_RUN = 100
TICKETS_KEPT = 50  # dip keys remembered (a dip is only ever new once anyway)
# The tracker may be down: a few minutes of retries, then the night goes on and the
# failure is audited (the ticket activity is idempotent by dip key).
TICKET_TIMEOUT = timedelta(seconds=30)
TICKET_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=8)
LEVELS_THAT_ACT = (AutonomyLevel.AUTONOMOUS, AutonomyLevel.SUPERVISED)
ALERT = "messages/health/risk_alert.md.j2"
SUMMARY = "messages/health/summary.md.j2"
PLAY = "messages/health/expansion_play.md.j2"
OUTREACH = "messages/health/expansion_outreach.md.j2"


def risk_reasons(f: WatchFindings, anomaly_is_new: bool) -> list[str]:
    """What is new tonight for the Risk agent, in words."""
    reasons = []
    if c := f.crossing:
        reasons.append(
            f"band {c.from_band} → {c.to_band} (score {c.from_score} → {c.to_score} "
            f"since {c.since})"
        )
    if (a := f.anomaly) and anomaly_is_new:
        reasons.append(
            f"{a.feature} fell to {a.recent_mean:.1f} a day over the last {a.recent_days} "
            f"days from a median of {a.baseline_median:.1f} (modified z-score {a.z:.1f}, "
            f"flagged at {a.z_at_most:g})"
        )
    reasons += [f"NPS {d.score} from {d.contact_email}" for d in f.detractors]
    return reasons


@workflow.defn(name=names.ACCOUNT_WATCH_WORKFLOW)
class AccountWatchWorkflow(HumanDecisions):
    def __init__(self) -> None:
        super().__init__()
        self.state: WatchState | None = None
        self.policies: PolicySet | None = None  # tonight's snapshot
        # Filled by the signal, which may come before `run` starts (signal-with-start).
        self.pending: list[WatchFindings] = []
        self.nights_this_run = 0
        self.signals_this_run = 0
        self.waiting: list[asyncio.Task] = []  # human requests in the background
        self.stage = "watching"

    # ------------------------------------------------------------------ handlers

    @workflow.signal(name=names.HEALTH_SCORED_SIGNAL)
    def health_scored(self, raw: RawValue) -> None:
        """The sweep's findings for one night (raw: a bad payload is refused and shown)."""
        self.signals_this_run += 1
        findings = self.signal_input(names.HEALTH_SCORED_SIGNAL, raw, WatchFindings)
        if findings is not None:
            self.pending.append(findings)

    @workflow.query(name=names.ACCOUNT_WATCH_QUERY)
    def account_watch(self) -> WatchState | None:
        return self.state

    @property
    def _state(self) -> WatchState:
        return required(self.state, "the watch state")

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, state: WatchState) -> None:
        self.state = state
        self.pending[:0] = state.pending  # before those signalled to this run
        state.pending = []
        self.publish()
        while True:
            await workflow.wait_condition(lambda: bool(self.pending) or self._may_close())
            if self._may_close():  # nights still to come go to the next run
                break
            await self._night(self.pending.pop(0))
        await asyncio.gather(*self.waiting)  # all closed: surfaces a failed one
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(state.model_copy(update={"pending": self.pending}))

    def _may_close(self) -> bool:
        """The run has had its nights, and nothing waits for a human."""
        full = (
            self.nights_this_run >= NIGHTS_PER_RUN
            or self.signals_this_run >= SIGNALS_PER_RUN
            or workflow.info().is_continue_as_new_suggested()
        )
        return full and all(t.done() for t in self.waiting)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        self.waiting = [t for t in self.waiting if not t.done()]
        self.waiting.append(asyncio.create_task(work))

    def _open(self, prefix: str) -> bool:
        return any(
            r.status == "open" and r.request_id.startswith(prefix) for r in self.requests.values()
        )

    # ------------------------------------------------------------------ a night

    async def _night(self, f: WatchFindings) -> None:
        h, state = f.health, self._state
        last = state.last
        if last and h.as_of <= last.as_of:
            # The sweep ran again for a night already acted on: the score may have
            # moved (the day's row is replaced), the agents do not act twice.
            if h.as_of == last.as_of:
                last.score, last.band, last.trend = h.score, h.band, h.trend
                self._show_health(h.score, last.band)
            return
        self.set_account(await reads.account_facts(state.account_id, local=True), only_changes=True)
        night = WatchNight(
            as_of=h.as_of, score=h.score, band=h.band, trend=h.trend, weakest=h.weakest
        )
        state.last, state.nights = night, state.nights + 1
        self.nights_this_run += 1
        self._show_health(h.score, h.band)

        anomaly_is_new = f.anomaly is not None and not state.anomaly_before
        state.anomaly_before = f.anomaly is not None
        reasons = risk_reasons(f, anomaly_is_new)
        grows = f.expansion is not None and not f.at_risk
        if reasons or grows:
            # Read only on nights the agents act: most nights of most accounts are
            # quiet, and the snapshot is the largest thing a night would keep.
            self.policies = policies = await reads.policy_snapshot(local=True)
            if reasons:
                await self._risk(policies, f, night, reasons)
            if grows:
                await self._growth(policies, f, night)
        if f.anomaly and not anomaly_is_new:
            night.actions.append("usage still low: alerted when the drop began")
        if f.expansion and not grows:
            night.actions.append("expansion play held back: the account shows risk tonight")
        self.publish()

    def _show_health(self, score: int, band: str) -> None:
        have = workflow.info().typed_search_attributes.get(sa.HEALTH)
        if have != score:
            workflow.upsert_search_attributes([sa.HEALTH.value_set(score)])
        self.stage = band
        self.publish()

    def _detail(self, night: WatchNight, reason: str) -> dict:
        """The audit detail the weekly digest reads (the agreed shape)."""
        return {
            "as_of": night.as_of.isoformat(),
            "score": night.score,
            "band": night.band,
            "reason": reason,
        }

    def _values(self, f: WatchFindings, **more: Any) -> dict:
        return {
            "account": self._account.model_dump(mode="json"),
            "health": f.health.model_dump(mode="json"),
            "findings": f.model_dump(mode="json"),
            "workflow_id": workflow.info().workflow_id,
            **more,
        }

    # ------------------------------------------------------------------ the Risk agent

    async def _risk(
        self, policies: PolicySet, f: WatchFindings, night: WatchNight, reasons: list[str]
    ) -> None:
        a, day = self._account, night.as_of
        detail = self._detail(night, "; ".join(reasons))
        components = sorted(f.health.components, key=lambda c: (c.score, c.name))
        values = self._values(
            f, reasons=reasons, components=[c.model_dump(mode="json") for c in components]
        )
        title = f"{a.name}: health {night.score} ({night.band})"
        for action, what, template in (
            ("usage_anomaly_alert", "Risk alert", ALERT),
            ("health_summary", "Health summary", SUMMARY),
        ):
            await self._to_csm(
                evaluate.decide_autonomy(policies, action, a),
                night,
                f"{day}/{action}",
                f"[csops] {what}: {title}",
                template,
                values,
                detail,
            )
        risk = required(policies.health, "the health policy").risk
        if a.arr >= risk.csm_task_at_arr_at_least:
            if self._open("risk-"):
                night.actions.append("CSM task: the last one is still open")
            else:
                decision = AutonomyDecision(
                    action="csm_task",
                    level=AutonomyLevel.OFF_LIMITS,
                    rule="accounts-at-or-above-the-health-policy-task-arr",
                    policy_version=policies.version,
                    approvers=[a.owner_csm, a.manager],
                )
                task = f"Act on the risk at {a.name}: {'; '.join(reasons)}"
                self._in_background(
                    self._csm_task(decision, night, f"risk-{day}", task, None, detail)
                )
        wid = workflow.info().workflow_id
        dips = [
            InternalTicketInput(workflow_id=wid, health=f.health, detractor=d) for d in f.detractors
        ]
        # A worse band is a dip of its own (watches started before ticketed NPS alone).
        if f.crossing and workflow.patched(names.PATCH_WATCH_BAND_TICKET):
            dips.insert(
                0, InternalTicketInput(workflow_id=wid, health=f.health, crossing=f.crossing)
            )
        for dip in dips:
            await self._ticket(dip, night)

    async def _ticket(self, dip: InternalTicketInput, night: WatchNight) -> None:
        """One internal ticket per dip, on the webhook (idempotent by its dip key)."""
        state, key = self._state, dip.dip_key
        if key in state.tickets:
            return
        if dip.detractor is not None:
            what = f"NPS {dip.detractor.score} from {dip.detractor.contact_email}"
        else:
            c = required(dip.crossing, "the crossing")
            what = f"band {c.from_band} → {c.to_band}"
        detail = self._detail(night, what)
        try:
            got = await workflow.execute_activity_method(
                WatchActivities.open_internal_ticket,
                dip,
                summary=f"internal ticket for {key}",
                start_to_close_timeout=TICKET_TIMEOUT,
                retry_policy=TICKET_RETRY,
            )
        except ActivityError as err:
            await self.audit(
                f"{night.as_of}/internal_ticket/{key}",
                "internal_ticket",
                "failed",
                detail={**detail, "dip_key": key, "error": str(err.cause or err)},
            )
            night.actions.append(f"internal ticket for {key} failed: {err.cause or err}")
            return
        state.tickets = [*state.tickets, key][-TICKETS_KEPT:]
        outcome = "opened" if got.opened else ("exists" if got.external_id else "not opened")
        await self.audit(
            f"{night.as_of}/internal_ticket/{key}",
            "internal_ticket",
            outcome,
            detail={**detail, "dip_key": key, "ticket": got.external_id, "url": got.url},
        )
        night.actions.append(
            f"internal ticket {got.external_id} {outcome} for {key}"
            if got.external_id
            else f"no internal ticket for {key}: {got.reason}"
        )

    async def _to_csm(
        self,
        decision: AutonomyDecision,
        night: WatchNight,
        key: str,
        subject: str,
        template: str,
        values: dict,
        detail: dict,
    ) -> None:
        """An agent's message to the owner CSM at the policy's level: sent when the agent
        may act (a sample of supervised ones flagged for review); a task with the draft
        at copilot; a task without one when off-limits."""
        a = self._account
        if decision.level not in LEVELS_THAT_ACT:
            copilot = decision.level == AutonomyLevel.COPILOT
            draft = await self._render(template, values) if copilot else None
            task = f"{decision.action.replace('_', ' ').capitalize()} for {a.name}"
            request_id = f"{decision.action.split('_')[0]}-{night.as_of}"
            self._in_background(self._csm_task(decision, night, request_id, task, draft, detail))
            return
        sampled = await self.agent_sends(
            required(self.policies, "tonight's policies"),
            decision,
            key,
            f"{decision.action} to {a.owner_csm}",
            engine="template",
            detail=detail,
            audience="internal",
            to=[a.owner_csm],
            subject=subject,
            template=template,
            values=values,
        )
        night.actions.append(
            f"{decision.action} sent to {a.owner_csm} ({decision.level.value}"
            + (", sampled for review)" if sampled else ")")
        )

    async def _csm_task(
        self,
        decision: AutonomyDecision,
        night: WatchNight,
        request_id: str,
        title: str,
        draft: str | None,
        detail: dict,
    ) -> None:
        """A task for the CSM, waited on in the background; its "requested" audit row
        carries the night's detail (watches started before that wrote a row of their own)."""
        if not workflow.patched(names.PATCH_WATCH_REQUEST_DETAIL):
            await self.audit(
                f"{request_id}/csm_task", "csm_task", "asked", decision=decision, detail=detail
            )
        night.actions.append(f"CSM task {request_id} asked")
        await self.ask(
            kind="task",
            decision=decision,
            title=title,
            ladder=TASK_LADDER,
            draft=draft,
            request_id=request_id,
            audit_detail=detail,
        )

    async def _render(self, template: str, values: dict) -> str:
        """The exact text a person reads (rendering is I/O: an activity)."""
        return await workflow.execute_activity_method(
            RecordActivities.render_message,
            RenderInput(template=template, values=values),
            summary=f"render {template}",
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    # ------------------------------------------------------------------ the Growth agent

    async def _growth(self, policies: PolicySet, f: WatchFindings, night: WatchNight) -> None:
        e, state, a, day = (
            required(f.expansion, "the expansion"),
            self._state,
            self._account,
            night.as_of,
        )
        if e.suggestions == state.last_play:
            night.actions.append("expansion play: the same as the last one, not drafted again")
            return
        if self._open("play-"):
            night.actions.append("expansion play: the last one still waits for a decision")
            return
        state.last_play = e.suggestions
        decision = evaluate.decide_autonomy(policies, "expansion_play", a)
        detail = self._detail(night, "; ".join(e.suggestions))
        if decision.level == AutonomyLevel.OFF_LIMITS:
            title = f"Consider an expansion with {a.name} (off-limits for the agent)"
            self._in_background(self._csm_task(decision, night, f"play-{day}", title, None, detail))
            return
        contact = a.primary_contact_email
        values = self._values(
            f,
            expansion=e.model_dump(mode="json"),
            contact_name=(a.primary_contact_name or "there").split(" ")[0],
        )
        outreach = await self._render(OUTREACH, values)
        if contact is None:  # nobody to send it to: the CSM finds the right person
            title = f"Expansion play for {a.name}: the account has no primary contact"
            self._in_background(
                self._csm_task(decision, night, f"play-{day}", title, outreach, detail)
            )
            return
        if decision.level in LEVELS_THAT_ACT:
            await self._to_csm(
                decision,
                night,
                f"{day}/expansion_play",
                f"[csops] Expansion play: {a.name}",
                PLAY,
                {
                    **values,
                    "outreach": outreach,
                    "contact": contact,
                    "level_note": "The agent sends nothing to the customer: "
                    "the play is yours to run.",
                },
                detail,
            )
            return
        if not workflow.patched(names.PATCH_WATCH_REQUEST_DETAIL):  # as in _csm_task
            await self.audit(
                f"{day}/expansion_play/asked",
                "expansion_play",
                "asked",
                decision=decision,
                detail=detail,
            )
        night.actions.append(f"expansion play waits for the account team (play-{day})")
        self._in_background(
            self._play_approval(policies, decision, night, outreach, contact, detail, e.evidence)
        )

    async def _play_approval(
        self,
        policies: PolicySet,
        decision: AutonomyDecision,
        night: WatchNight,
        outreach: str,
        contact: str,
        detail: dict,
        evidence: list[str],
    ) -> None:
        """Copilot: the account team decides; approved or edited, the outreach goes to
        the customer's primary contact; rejected or expired, nothing is sent."""
        a, day = self._account, night.as_of
        ids = (f"play-{day}" + (f"-{n + 1}" if n else "") for n in itertools.count())
        req, now = await self.ask_until_allowed(
            lambda p: evaluate.decide_autonomy(p, "expansion_play", a),
            lambda: next(ids),
            kind="approval",
            decision=decision,
            title=f"Approve the expansion outreach to {a.name} ({contact})",
            ladder=policies.routing.approval.ladder(),
            draft=outreach,
            notes=evidence,
            audit_detail=detail,
        )
        if req.superseded or req.status not in ("approved", "edited"):
            return
        await self.send(
            f"{day}/expansion_play/outreach",
            f"send the approved outreach to {contact}",
            audience="customer",
            to=[contact],
            subject=f"{a.name} and your {a.plan} plan",
            body=req.final_text,
            engine="template" if req.status == "approved" else None,
        )
        await self.audit(
            f"{day}/expansion_play/sent",
            "expansion_play",
            "sent",
            actor=req.decided_by or "agent",
            decision=now,
            engine="template" if req.status == "approved" else None,
            detail={
                **detail,
                "to": contact,
                "request_id": req.request_id,
                "edited": req.status == "edited",
            },
        )
        night.actions.append(
            f"expansion outreach sent to {contact} after {req.status} by {req.decided_by}"
        )
        self.publish()

    # ------------------------------------------------------------------ visibility

    def details_header(self) -> list[str]:
        a, state = self.account, self.state
        lines = [f"## Account watch · {md(a.name) if a else state.account_id if state else ''}"]
        if a:
            lines.append(f"Account {a.summary_line()}")
        last = state.last if state else None
        if last is None:
            lines.append("Waiting for the first night's health score.")
            return lines
        trend = "first score" if last.trend is None else f"{last.trend:+d} since the last score"
        lines += [
            (
                f"Health **{last.score}** · **{last.band}** on {last.as_of} · {trend} · "
                f"weakest: {last.weakest}"
            ),
            f"Watched {state.nights if state else 0} night(s).",
            "",
            f"What the agents did on {last.as_of}:",
            "",
            *([f"- {md(x)}" for x in last.actions] or ["- nothing to act on"]),
        ]
        return lines
