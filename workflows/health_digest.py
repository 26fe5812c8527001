"""HealthDigestWorkflow: started each Monday morning by the Schedule
`health-digest-weekly`; every CSM gets their book, the week's risks and plays and
what waits for them, once per ISO week, through the outbox."""

from __future__ import annotations

from datetime import UTC, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.health_digest import HealthDigestActivities
    from contracts import names
    from contracts.health_digest import HealthDigestInput, HealthDigestResult, iso_week


@workflow.defn(name=names.HEALTH_DIGEST_WORKFLOW)
class HealthDigestWorkflow:
    @workflow.run
    async def run(self, inp: HealthDigestInput) -> HealthDigestResult:
        # The week ends now, by the workflow's clock: a retried activity covers it too.
        until = inp.until or workflow.now()
        result = await workflow.execute_activity_method(
            HealthDigestActivities.send_health_digests,
            HealthDigestInput(until=until),
            summary=f"weekly health digest for {iso_week(until.astimezone(UTC).date())}",
            start_to_close_timeout=timedelta(minutes=10),
        )
        workflow.set_current_details(
            f"## Weekly health digest for {result.week}\n"
            f"{result.recipients} CSM(s) told about {result.accounts} account(s), "
            f"{result.events} risk(s) and play(s) and {result.waiting} waiting request(s); "
            f"{result.duplicates} already had this week's digest."
        )
        return result
