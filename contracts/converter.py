"""The one data converter: every client (worker, CLI, tests, replayer) uses it, so
messages travel as JSON and stay readable in the Temporal UI."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter

DATA_CONVERTER = pydantic_data_converter
