"""The Temporal client, built here and nowhere else: always with csops' data
converter, so every payload decodes the same for the worker, CLI and tests."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from contracts.converter import DATA_CONVERTER


async def connect(address: str, namespace: str, identity: str | None = None) -> Client:
    """A client; `identity` is what Temporal records as the sender of its signals and
    updates (the SDK's `pid@host` when None)."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=DATA_CONVERTER,
        identity=identity or None,
    )


async def wait_until_reachable(address: str, namespace: str, timeout_s: float = 60) -> Client:
    """Connect, retrying while the server starts; raises TimeoutError with the address."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            client = await connect(address, namespace)
            await client.count_workflows()  # the namespace and visibility answer
            return client
        except Exception as err:  # noqa: BLE001 (any failure while starting means: not yet)
            if loop.time() > deadline:
                raise TimeoutError(f"Temporal at {address} did not answer: {err}") from err
            await asyncio.sleep(0.5)
