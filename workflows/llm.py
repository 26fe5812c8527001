"""Calling the LLM gateway from a workflow: one place for its timeout and retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.llm_gateway import LlmActivities

from workflows.options import LLM_RETRY, LLM_TIMEOUT

ParamT = TypeVar("ParamT")
ResultT = TypeVar("ResultT")


async def ask_model(
    method: Callable[[LlmActivities, ParamT], Awaitable[ResultT]], arg: ParamT, summary: str
) -> ResultT:
    """One LLM gateway activity. After its bounded retries an ActivityError reaches
    the caller, who decides what happens without the model."""
    return await workflow.execute_activity_method(
        method, arg, summary=summary, start_to_close_timeout=LLM_TIMEOUT, retry_policy=LLM_RETRY
    )
