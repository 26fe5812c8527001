"""Waiting for a condition: every poll in the tests goes through `eventually`."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def eventually(
    probe: Callable[[], Any],
    timeout_s: float = 15,
    holds: Callable[[Any], bool] = bool,
    *,
    every_s: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
    between: Callable[[], Any] | None = None,
    what: str = "condition",
) -> Any:
    """Poll `probe()` (plain or async) until `holds(value)`, and return that value;
    fail after `timeout_s`.

    `every_s` is the pause between tries; `between()` (plain or async), if given, runs
    after it, before the next try (reload a page, say). A probe that raises one of
    `ignoring` has not held yet: the last such error is chained to the failure.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        error: BaseException | None = None
        try:
            value = await _result(probe())
        except ignoring as exc:
            error = value = exc
        else:
            if holds(value):
                return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s}s: {value!r}"[:500]) from error
        await asyncio.sleep(every_s)
        if between is not None:
            await _result(between())


async def _result(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
