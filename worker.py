"""The csops worker: every workflow and activity on one task queue, plus the
outbox dispatcher. `csops worker` (or `python worker.py`) runs it.

This is where dependencies are wired: the database engine, the LLM provider,
the Temporal client and the settings go into the activity classes here, so no
activity reaches for configuration of its own.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.context_pulls import ContextActivities
from activities.deciders import DeciderActivities
from activities.deliveries import DeliveryActivities, run_outbox
from activities.digest import DigestActivities
from activities.health import HealthActivities
from activities.health_digest import HealthDigestActivities
from activities.investigation import InvestigationActivities
from activities.llm_gateway import LlmActivities
from activities.onboarding import OnboardingActivities
from activities.records import RecordActivities
from activities.renewal_sections import RenewalSectionActivities
from activities.renewal_sweep import SweepActivities
from activities.reviews import ReviewActivities
from activities.watch import WatchActivities
from adapters.knowledge import KnowledgeBase
from adapters.launcher import signal_watch, start_renewal_package
from adapters.logs import AccountInLogs, configure_logging
from adapters.metrics import CsopsMetrics
from adapters.openai_provider import OpenAIProvider
from adapters.reading import language
from adapters.settings import Settings, load_settings
from adapters.temporal_client import Access, connect
from adapters.ticket_webhook import TicketWebhook
from adapters.workflow_runner import DirectContextSandboxRunner
from context.db import make_engine
from policies.loader import load_policies
from workflows.digest import CsmDigestWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.handler_guard import HandlerGuard
from workflows.health import HealthSweepWorkflow
from workflows.health_digest import HealthDigestWorkflow
from workflows.investigation import InvestigationWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.renewal import RenewalPackageWorkflow, RenewalSweepWorkflow
from workflows.review import ReviewWorkflow
from workflows.watch import AccountWatchWorkflow

WORKFLOWS = [
    EscalationWorkflow,
    OnboardingWorkflow,
    RenewalPackageWorkflow,
    RenewalSweepWorkflow,
    CsmDigestWorkflow,
    HealthSweepWorkflow,
    InvestigationWorkflow,
    AccountWatchWorkflow,
    HealthDigestWorkflow,
    ReviewWorkflow,
]
# The Worker and every Replayer run the workflows with the same interceptors.
INTERCEPTORS = [HandlerGuard()]
# The policy snapshot's models check email addresses when a workflow decodes them,
# with the worker's own copy of the library. This sandbox re-imports our workflow
# modules for every workflow it runs, so it catches a workflow calling datetime.now(),
# random or time.time(); the test suite runs every workflow and replay in it.
STRICT_WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna")
)
# The Worker shares its own `workflows` modules with every workflow instead: a copy
# of them per open workflow cost 216 KiB and 15-22 ms CPU at each start (onboarding;
# 84 KiB and 6-9 ms with only the helpers shared, 7 KiB and 0.2 ms with all shared).
# They hold no module-level mutable state. The price is those checks, which the tests
# keep (STRICT_WORKFLOW_RUNNER above).
# It also answers the SDK's per-payload serialization-context lookups without
# entering the sandbox (adapters/workflow_runner.py).
WORKFLOW_RUNNER = DirectContextSandboxRunner(
    restrictions=STRICT_WORKFLOW_RUNNER.restrictions.with_passthrough_modules("workflows")
)


def build_worker(
    client: Client,
    task_queue: str,
    engine: Engine,
    provider: OpenAIProvider | None,
    executor: ThreadPoolExecutor,
    settings: Settings | None = None,
    workflow_runner: WorkflowRunner = WORKFLOW_RUNNER,
    **options: Any,
) -> Worker:
    """The worker with every workflow and activity (tests build it the same way, in
    STRICT_WORKFLOW_RUNNER); `options` go to temporalio's Worker."""
    settings = settings or load_settings()
    context = ContextActivities(engine, settings.policy_dir)
    records = RecordActivities(engine)
    llm = LlmActivities(engine, provider, KnowledgeBase(engine, settings.knowledge_dir))
    investigation = InvestigationActivities(engine)
    onboarding = OnboardingActivities(engine)
    renewals = RenewalSectionActivities(
        engine, settings.artifact_dir.resolve(), settings.artifact_url
    )
    sweep = SweepActivities(engine, functools.partial(start_renewal_package, client))
    digest = DigestActivities(engine, client)
    deciders = DeciderActivities(client)
    reviews = ReviewActivities(client)
    deliveries = DeliveryActivities(engine)
    health = HealthActivities(engine, functools.partial(signal_watch, client), settings.policy_dir)
    health_digest = HealthDigestActivities(engine, client, settings.ui_url)
    webhook = settings.ticket_webhook_url
    watch = WatchActivities(engine, TicketWebhook(webhook) if webhook else None)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            context.pull_ticket_context,
            context.pull_ticket_reads,
            context.pull_account_facts,
            context.record_ticket_status,
            context.check_usage,
            context.load_policies,
            records.send_message,
            records.record_hot_ticket,
            records.render_message,
            records.record_audit,
            llm.assess_ticket,
            llm.draft_reply,
            llm.summarize_renewal,
            llm.synthesize_investigation,
            investigation.gather_evidence,
            investigation.synthesize_offline,
            investigation.store_investigation,
            investigation.store_qbr_narrative,
            onboarding.write_onboarding_review,
            renewals.renewal_sections,
            renewals.usage_report,
            renewals.roi_proof,
            renewals.risk_assessment,
            renewals.expansion_recommendation,
            renewals.decision_maker_map,
            renewals.find_terms_requests,
            renewals.store_renewal_package,
            sweep.start_renewal_batch,
            digest.send_csm_digests,
            deciders.check_decider,
            reviews.open_review,
            deliveries.delivery_status,
            health.record_health_batch,
            health_digest.send_health_digests,
            watch.open_internal_ticket,
        ],
        interceptors=[*INTERCEPTORS, AccountInLogs(), *options.pop("interceptors", [])],
        workflow_runner=workflow_runner,
        # Sync activities (DB) run here, never on the event loop.
        activity_executor=executor,
        max_concurrent_workflow_task_polls=settings.workflow_pollers,
        max_concurrent_activity_task_polls=settings.activity_pollers,
        **{"max_cached_workflows": settings.workflow_cache, **options},
    )


def serve_metrics(settings: Settings, engine: Engine) -> None:
    """Prometheus endpoints, when configured: csops' counters on CSOPS_METRICS_PORT
    and the SDK's runtime telemetry (task latencies, pollers, cache) on
    CSOPS_SDK_METRICS_PORT. Call before the first client: the SDK's runtime is
    process-wide and set once."""
    if settings.sdk_metrics_port:
        telemetry = TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"0.0.0.0:{settings.sdk_metrics_port}")
        )
        Runtime.set_default(Runtime(telemetry=telemetry))
    if settings.metrics_port:
        metrics = CsopsMetrics()
        metrics.instrument(engine)
        metrics.serve(settings.metrics_port)


# A full collection only after this many second-generation passes (Python's default:
# 10). See calm_the_collector.
FULL_COLLECTION_EVERY = 100


def calm_the_collector() -> None:
    """Keep Python's full garbage collections out of the hot path. A worker holds
    hundreds of thousands of objects (its modules, models and index, then every
    cached workflow), and a full pass over them stopped every thread for 150-300 ms
    three times in a 30-s burst of hot tickets at 20/s: that was the p99 (bench/
    hot_ticket.py FINDINGS). What start-up built lives as long as the process, so it
    is frozen out of every later pass, and full passes come ten times less often;
    young objects are collected as before."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


async def run_worker(settings: Settings | None = None) -> None:
    """Validate policies, connect, and run until cancelled (Ctrl-C)."""
    settings = settings or load_settings()
    # A broken policy file stops start-up here, with file/field/reason.
    policies = load_policies(settings.policy_dir)
    engine = make_engine(settings.database_url)
    serve_metrics(settings, engine)
    provider = OpenAIProvider.from_settings(settings)
    # Load the language models while connecting, before the first ticket needs them.
    warming = asyncio.create_task(asyncio.to_thread(language.warm_up))
    client = await connect(
        settings.temporal_address,
        settings.namespace,
        settings.codec_keys,
        access=Access.from_settings(settings),
    )
    await warming
    calm_the_collector()
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
        dispatcher = asyncio.create_task(
            run_outbox(engine, client, settings.delivery(), policies.routing.on_call)
        )
        try:
            async with build_worker(
                client, settings.task_queue, engine, provider, executor, settings
            ):
                await stop.wait()
            log.info("worker stopped")
        finally:
            dispatcher.cancel()


if __name__ == "__main__":
    configure_logging(load_settings().log_format)
    asyncio.run(run_worker())
