"""The csops worker: every workflow and activity on one task queue, plus the
outbox dispatcher. `csops worker` (or `python worker.py`) runs it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.context_pulls import ContextActivities
from activities.digest import DigestActivities
from activities.llm_gateway import LlmActivities
from activities.onboarding import OnboardingActivities
from activities.openai_provider import OpenAIProvider
from activities.outbox_delivery import run_dispatcher
from activities.records import RecordActivities
from activities.renewal_sections import RenewalSectionActivities
from activities.renewal_sweep import SweepActivities
from context.db import make_engine
from csops.config import Settings, artifact_dir, connect
from policies.loader import load_policies
from workflows.digest import CsmDigestWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.renewal import RenewalPackageWorkflow, RenewalSweepWorkflow

WORKFLOWS = [
    EscalationWorkflow,
    OnboardingWorkflow,
    RenewalPackageWorkflow,
    RenewalSweepWorkflow,
    CsmDigestWorkflow,
]

# The SDK's default single workflow-task poller caps a 2-core dev server near
# 50 completions/s while the CPU idles; a few more roughly double throughput.
WORKFLOW_POLLERS = int(os.environ.get("CSOPS_WORKFLOW_POLLERS", "4"))
ACTIVITY_POLLERS = int(os.environ.get("CSOPS_ACTIVITY_POLLERS", "4"))


def build_worker(
    client: Client,
    task_queue: str,
    engine: Engine,
    provider: OpenAIProvider | None,
    executor: ThreadPoolExecutor,
    **options,
) -> Worker:
    """The worker with every workflow and activity (tests build it the same way);
    `options` go to temporalio's Worker."""
    context = ContextActivities(engine)
    records = RecordActivities(engine)
    llm = LlmActivities(engine, provider)
    onboarding = OnboardingActivities(engine)
    renewals = RenewalSectionActivities(engine, artifact_dir())
    sweep = SweepActivities(engine, client)
    digest = DigestActivities(engine, client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            context.pull_ticket_context,
            context.pull_account_facts,
            context.check_usage,
            context.load_policies,
            records.send_message,
            records.render_message,
            records.record_audit,
            llm.assess_ticket,
            llm.draft_reply,
            llm.summarize_renewal,
            onboarding.write_onboarding_review,
            renewals.usage_report,
            renewals.roi_proof,
            renewals.risk_assessment,
            renewals.expansion_recommendation,
            renewals.decision_maker_map,
            renewals.find_terms_requests,
            renewals.store_renewal_package,
            sweep.start_renewal_batch,
            digest.send_csm_digests,
        ],
        # Sync activities (DB) run here, never on the event loop.
        activity_executor=executor,
        max_concurrent_workflow_task_polls=WORKFLOW_POLLERS,
        max_concurrent_activity_task_polls=ACTIVITY_POLLERS,
        **options,
    )


async def run_worker(settings: Settings | None = None) -> None:
    """Validate policies, connect, and run until cancelled (Ctrl-C)."""
    settings = settings or Settings()
    policies = load_policies()  # a broken file stops start-up here, with file/field/reason
    engine = make_engine()
    provider = OpenAIProvider.from_env()
    client = await connect(settings)
    log = logging.getLogger("csops.worker")
    log.info(
        "worker on %s queue %r, policy %s, engine %s",
        settings.temporal_address,
        settings.task_queue,
        policies.version,
        provider.label if provider else "offline (deterministic; no OPENAI_API_KEY)",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=16) as executor:
        dispatcher = asyncio.create_task(run_dispatcher(engine, settings.outbox_delivery))
        try:
            async with build_worker(client, settings.task_queue, engine, provider, executor):
                await stop.wait()
            log.info("worker stopped")
        finally:
            dispatcher.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run_worker())
