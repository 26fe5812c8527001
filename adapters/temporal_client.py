"""The Temporal client, built here and nowhere else: always with csops' data
converter, so every payload decodes the same for the worker, CLI and tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.converter import DataConverter

from adapters.codec_keys import CodecKey
from contracts.converter import DATA_CONVERTER


def data_converter(codec_keys: Sequence[CodecKey]) -> DataConverter:
    """csops' data converter, with the AES-GCM payload codec when keys are configured
    (`Settings.codec_keys`), plain otherwise. Every client, worker and replayer uses it."""
    if not codec_keys:
        return DATA_CONVERTER
    # Imported only with keys: without them a CLI command skips the cryptography
    # package (about 40 ms of start-up).
    from adapters.payload_codec import AesGcmCodec

    return dataclasses.replace(DATA_CONVERTER, payload_codec=AesGcmCodec(codec_keys))


async def connect(
    address: str, namespace: str, codec_keys: Sequence[CodecKey], identity: str | None = None
) -> Client:
    """A client; `identity` is what Temporal records as the sender of its signals and
    updates (the SDK's `pid@host` when None)."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(codec_keys),
        identity=identity or None,
    )


async def wait_until_reachable(
    address: str, namespace: str, codec_keys: Sequence[CodecKey], timeout_s: float = 60
) -> Client:
    """Connect, retrying while the server starts; raises TimeoutError with the address."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            client = await connect(address, namespace, codec_keys)
            await client.count_workflows()  # the namespace and visibility answer
            return client
        except Exception as err:  # noqa: BLE001 (any failure while starting means: not yet)
            if loop.time() > deadline:
                raise TimeoutError(f"Temporal at {address} did not answer: {err}") from err
            await asyncio.sleep(0.5)
