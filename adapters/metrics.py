"""The worker's Prometheus metrics: csops' own counters beside the Temporal SDK's
runtime telemetry, on one scrape port each (`CSOPS_METRICS_PORT`, and
`CSOPS_SDK_METRICS_PORT` for the SDK's).

prometheus_client is the reference client Prometheus maintains. The counters are
read off the audit rows the worker writes to the context database (a SQLAlchemy
`after_execute` listener): every row counts, whichever activity (or the outbox
dispatcher) wrote it, without a call in each activity. Each worker counts what it wrote: sum over the
workers in PromQL.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Insert

from context.outcomes import HUMAN_CLOSES, QUIET_CLOSES
from context.tables import AuditEvent

AUDIT_TABLE = AuditEvent.__tablename__
# The audit key of a hot ticket's notification (workflows/escalation.py `_hot`).
HOT_NOTIFY_SUFFIX = "/hot/notify"


class CsopsMetrics:
    """csops' counters, in a registry of their own (tests build one each)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.actions = Counter(
            "csops_actions",
            "Agent actions recorded in the audit log, by autonomy level, action kind and outcome.",
            ["level", "action", "outcome"],
            registry=self.registry,
        )
        self.pending = Gauge(
            "csops_human_requests_pending",
            "Human requests opened minus those closed (decided, expired or withdrawn).",
            registry=self.registry,
        )
        self.escalations = Counter(
            "csops_escalations",
            "Hot tickets escalated to their CSM and on-call (each ticket once).",
            registry=self.registry,
        )
        self.deliveries_failed = Counter(
            "csops_deliveries_failed",
            "Outbox messages that failed for good.",
            registry=self.registry,
        )

    def count_audit(self, row: dict[str, Any]) -> None:
        outcome = row.get("outcome")
        if outcome == "requested":
            self.pending.inc()
        elif outcome in HUMAN_CLOSES or outcome in QUIET_CLOSES:
            self.pending.dec()
        if str(row.get("idempotency_key", "")).endswith(HOT_NOTIFY_SUFFIX):
            self.escalations.inc()
        if row.get("action") == "delivery" and outcome == "failed":
            self.deliveries_failed.inc()
        level = row.get("autonomy")
        if row.get("actor") == "agent" and level:
            self.actions.labels(str(getattr(level, "value", level)), row["action"], outcome).inc()

    def instrument(self, engine: Engine) -> None:
        """Count the audit rows `engine` writes from now on (a duplicate key raises
        before this listener runs, so a retried write is counted once)."""

        @event.listens_for(engine, "after_execute")
        def _counted(conn, clause, multiparams, params, options, result) -> None:
            if isinstance(clause, Insert) and clause.table.name == AUDIT_TABLE:
                # One row comes as `params`, executemany's rows as `multiparams`.
                for row in list(multiparams) or [params]:
                    self.count_audit(row)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 (scraped from outside)
        """Serve /metrics on `port` from a daemon thread."""
        start_http_server(port, host, registry=self.registry)
