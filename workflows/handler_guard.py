"""Signals and updates whose argument count is wrong never reach their handler.

The SDK calls a handler with as many arguments as the sender gave: `temporal
workflow signal --name decide` with no input (or two) would raise TypeError
inside the handler and fail every workflow task from then on. This worker
interceptor checks the count first, for every handler of every workflow (present
and future): a signal is refused and recorded on the workflow (see
`HumanDecisions.refuse`), an update is rejected by its validator step with the
reason (or, for an update without a validator, fails with it). What a handler does with a single argument of the wrong shape is the
handler's own check (they take `RawValue` and validate it themselves).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts import errors

from temporalio.worker import (
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

PREVIEW_CHARS = 500


def arity_problem(
    kind: str, name: str, handler: Callable | None, args: Sequence[Any]
) -> str | None:
    """Why `args` cannot be passed to `handler`, or None when they can (or when the
    handler takes any number)."""
    if handler is None:
        return None
    params = inspect.signature(_method(handler)).parameters.values()
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    wanted = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    if len(args) == wanted:
        return None
    what = (
        "no argument"
        if wanted == 0
        else "one JSON object"
        if wanted == 1
        else f"{wanted} arguments"
    )
    return f"{kind} {name!r} takes {what}; it was sent {len(args)}"


def _method(handler: Callable) -> Callable:
    """The handler as declared: the SDK binds an async method to its workflow in a
    `with_object(*args)` wrapper, whose signature says nothing about the method's."""
    if inspect.iscoroutinefunction(handler):
        fn = inspect.getclosurevars(handler).nonlocals.get("fn")
        if callable(fn):
            return functools.partial(fn, None)  # `self` bound, as in the handler
    return handler


def preview(*args: Any) -> str:
    """What was sent, short, for the refusal record."""
    parts = []
    for a in args:
        if isinstance(a, RawValue):
            parts.append(a.payload.data.decode("utf-8", errors="replace"))
        else:
            parts.append(json.dumps(a, default=str)[:PREVIEW_CHARS])
    return (" | ".join(parts) or "(nothing)")[:PREVIEW_CHARS]


class _GuardedInbound(WorkflowInboundInterceptor):
    async def handle_signal(self, input: HandleSignalInput) -> None:
        handler = workflow.get_signal_handler(input.signal)
        problem = arity_problem("signal", input.signal, handler, input.args)
        if problem is None:
            await super().handle_signal(input)
            return
        refuse = getattr(workflow.instance(), "refuse", None)
        if callable(refuse):
            refuse(problem, preview(*input.args))
        else:
            workflow.logger.warning("refused: %s", problem)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        handler = workflow.get_update_handler(input.update)
        problem = arity_problem("update", input.update, handler, input.args)
        if problem:
            raise ValueError(problem)
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        # Only updates with a validator pass the check above; for the others the
        # update fails (an ApplicationError), never the workflow task.
        handler = workflow.get_update_handler(input.update)
        problem = arity_problem("update", input.update, handler, input.args)
        if problem:
            raise ApplicationError(problem, type=errors.BAD_HANDLER_ARGUMENTS, non_retryable=True)
        return await super().handle_update_handler(input)


class HandlerGuard(Interceptor):
    """Give to the Worker (and the Replayer) in `interceptors=[...]`."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _GuardedInbound
