"""Narrowing for workflow state that `run()` sets once and later steps rely on."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def required(value: T | None, what: str) -> T:
    """`value`, which the workflow must have set by now.

    None here is a bug in the workflow's own order of steps. A RuntimeError fails
    the workflow task, not the workflow: Temporal retries the task, and the
    history stays intact until the code is fixed.
    """
    if value is None:
        raise RuntimeError(f"{what} is used before the workflow set it")
    return value
