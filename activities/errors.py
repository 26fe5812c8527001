"""Turning the context layer's errors into Temporal's: what a retry cannot fix is
raised non-retryable where it is known."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from context.queries import NotFound
from contracts import errors


@contextmanager
def permanent_not_found() -> Iterator[None]:
    """A missing account or ticket fails the activity for good: retrying will not
    make it appear."""
    try:
        yield
    except NotFound as err:
        raise ApplicationError(str(err), type=errors.NOT_FOUND, non_retryable=True) from err
