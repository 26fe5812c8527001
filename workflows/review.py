"""The review of one supervised send the policy sampled (`review/{message key}`): the
reviewers grade what the agent already sent good or bad (with a reason) within the
policy's window, or it expires quietly. Started by the sending workflow and left to
run on its own (`HumanDecisions.agent_sends`): the send never waits for it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import RecordActivities
    from contracts import names
    from contracts.human import HumanRequest, ReviewInput
    from contracts.markdown import md
    from contracts.records import RenderInput
    from policies.model import Ladder

from workflows.human import HumanDecisions
from workflows.options import RECORD_RETRY, RECORD_TIMEOUT


@workflow.defn(name=names.REVIEW_WORKFLOW)
class ReviewWorkflow(HumanDecisions):
    def __init__(self) -> None:
        super().__init__()
        self.input: ReviewInput | None = None

    def details_header(self) -> list[str]:
        if self.input is None:
            return []
        i = self.input
        return [
            f"## Review: {md(i.decision.action)} sent to {md(', '.join(i.to))}",
            (
                f"The agent sent this at **{i.decision.level.value}** "
                f"(rule {md(i.decision.rule)}); the policy sampled it for review."
            ),
            f"Message `{md(i.reviewed)}` · subject *{md(i.subject)}*",
        ]

    @workflow.run
    async def run(self, inp: ReviewInput) -> HumanRequest:
        self.input = inp
        self.stage = "awaiting review"
        self.set_account(inp.account)
        # What the outbox sent: its body, or the same template rendered the same way.
        text = inp.body
        if inp.template:
            text = await workflow.execute_activity_method(
                RecordActivities.render_message,
                RenderInput(template=inp.template, values=inp.values),
                summary=f"render {inp.template}",
                start_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=RECORD_RETRY,
            )
        w = inp.window  # one deadline: no reminder, no escalation (see follow_request)
        req = await self.ask(
            kind="review",
            decision=inp.decision,
            title=f"Review what the agent sent to {', '.join(inp.to)}: {inp.subject}",
            ladder=Ladder(due=w, remind=w, escalate=w, expire=w),
            approvers=inp.reviewers,
            draft=text,
            request_id="review-1",
            reviewed=inp.reviewed,
            audit_detail={"reviewed": inp.reviewed},
        )
        self.stage = f"reviewed: {req.status}"
        self.publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return req
