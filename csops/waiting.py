"""Waiting on the outside world from the command line: poll until an answer comes
or the time is up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from contracts import names
from contracts.renewal import StoredPackage

T = TypeVar("T")


async def poll(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float, interval_s: float = 0.5
) -> T | None:
    """`probe()` until it returns something, or None after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        found = await probe()
        if found is not None or loop.time() >= deadline:
            return found
        await asyncio.sleep(interval_s)


async def renewal_artifact(handle: WorkflowHandle) -> StoredPackage | None:
    """Where the package is, once its workflow has stored it."""
    try:
        return await handle.query(
            names.RENEWAL_ARTIFACT_QUERY,
            # temporalio types result_type as `type`, yet its converter takes any hint
            result_type=StoredPackage | None,  # type: ignore[arg-type]
        )
    except RPCError:
        return None  # not picked up by a worker yet
