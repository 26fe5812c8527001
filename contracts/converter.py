"""The one data converter: every client (worker, CLI, tests, replayer) uses it, so
messages travel as JSON and stay readable in the Temporal UI."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverter, PayloadConverter

if TYPE_CHECKING:
    from temporalio.api.failure.v1 import Failure

from contracts import errors

# Failures meant for the person who caused them: the message is the whole story.
FOR_PEOPLE = frozenset({errors.DECISION_REFUSED})


class PeopleFailureConverter(DefaultFailureConverter):
    """Temporal's failure converter, except that a failure meant for a person (a
    refused decision) carries no stack trace: the UI and the CLI print the trace
    beside the message, and the worker's file paths tell a CSM nothing."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        if failure.application_failure_info.type in FOR_PEOPLE:
            failure.stack_trace = ""


DATA_CONVERTER = dataclasses.replace(
    pydantic_data_converter, failure_converter_class=PeopleFailureConverter
)
