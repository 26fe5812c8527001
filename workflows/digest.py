"""CsmDigestWorkflow: started each morning by the Schedule `csm-digest-daily`;
every CSM with something waiting gets one message through the outbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.digest import DigestActivities
    from contracts import names
    from contracts.digest import DigestInput, DigestResult


@workflow.defn(name=names.CSM_DIGEST_WORKFLOW)
class CsmDigestWorkflow:
    @workflow.run
    async def run(self, inp: DigestInput) -> DigestResult:
        day = inp.day or workflow.now().date()
        result = await workflow.execute_activity_method(
            DigestActivities.send_csm_digests,
            DigestInput(day=day),
            summary=f"digest of open requests for {day}",
            start_to_close_timeout=timedelta(minutes=10),
        )
        workflow.set_current_details(
            f"## CSM digest for {day}\n{result.recipients} people told about "
            f"{result.requests} open request(s); {result.duplicates} already had today's digest."
        )
        return result
