"""The worker's log lines: plain text for a terminal, or one JSON object per line
(`CSOPS_LOG_FORMAT=json`) for a log pipeline, each carrying the workflow id, run id
and account id of the workflow or activity that logged it (null outside one).

python-json-logger is the maintained JSON formatter for the logging package.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from contracts import search_attributes as sa

TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
# The account an activity works for, from its input (set by AccountInLogs).
_activity_account: ContextVar[str | None] = ContextVar("csops_activity_account", default=None)


class TemporalContext(logging.Filter):
    """Adds `workflow_id`, `run_id` and `account_id` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        workflow_id = run_id = account_id = None
        if activity.in_activity():
            info = activity.info()
            workflow_id, run_id = info.workflow_id, info.workflow_run_id
            account_id = _activity_account.get()
        elif workflow.in_workflow():
            winfo = workflow.info()
            workflow_id, run_id = winfo.workflow_id, winfo.run_id
            account_id = winfo.typed_search_attributes.get(sa.ACCOUNT_ID)
        record.workflow_id = workflow_id
        record.run_id = run_id
        record.account_id = getattr(record, "account_id", None) or account_id
        return True


class _AccountInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        account = next(
            (a for arg in input.args if isinstance(a := getattr(arg, "account_id", None), str)),
            None,
        )
        token = _activity_account.set(account)
        try:
            return await self.next.execute_activity(input)
        finally:
            _activity_account.reset(token)


class AccountInLogs(Interceptor):
    """Worker interceptor: an activity's log lines name the account of its input."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AccountInbound(next)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """The root logger as `CSOPS_LOG_FORMAT` says: "json" or "text"."""
    handler = logging.StreamHandler()
    handler.addFilter(TemporalContext())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                JSON_FIELDS,
                rename_fields={"levelname": "level", "name": "logger"},
                # "time": ISO 8601 in UTC with its zone, like every timestamp csops prints.
                timestamp="time",
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
