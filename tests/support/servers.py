"""The real Temporal servers of the tests, from the venv's binaries (a missing binary
fails the run): started here, entered (`async with`) and stopped by the fixtures."""

from __future__ import annotations

from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes as sa
from contracts.converter import DATA_CONVERTER
from csops.devserver import DEV_SERVER_TUNING, INDEXED_TYPES, find_binary


async def start_dev_server() -> WorkflowEnvironment:
    """The real `temporal` dev server (in-memory), search attributes registered, with
    the flags `csops server` uses."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        dev_server_extra_args=DEV_SERVER_TUNING,
        search_attributes=sa.ALL,
        data_converter=DATA_CONVERTER,
        ui=False,
    )


async def start_time_skipping_server() -> WorkflowEnvironment:
    """The real time-skipping test server (thirty days pass in seconds), csops' search
    attributes registered."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={k.name: INDEXED_TYPES[t] for k, t in sa.CLI_TYPES.items()},
            )
        )
    except BaseException:
        await env.shutdown()
        raise
    return env
