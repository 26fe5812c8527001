"""The Temporal client, built here and nowhere else: always with csops' data
converter, so every payload decodes the same for the worker, CLI and tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from adapters.codec_keys import CodecKey
from adapters.settings import Settings
from contracts.converter import DATA_CONVERTER


@dataclasses.dataclass(frozen=True)
class Access:
    """How to reach a secured cluster (Temporal Cloud): TLS, with a client
    certificate for mTLS, and/or an API key. The default: plain, for a dev server."""

    tls: TLSConfig | bool = False
    api_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        """TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH and TEMPORAL_API_KEY."""
        cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
        tls: TLSConfig | bool = settings.temporal_tls or bool(settings.temporal_api_key)
        if cert and key:
            tls = TLSConfig(client_cert=cert.read_bytes(), client_private_key=key.read_bytes())
        return cls(tls, settings.temporal_api_key or None)  # empty: none (compose's default)


PLAIN = Access()


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
    address: str,
    namespace: str,
    codec_keys: Sequence[CodecKey],
    identity: str | None = None,
    access: Access = PLAIN,
) -> Client:
    """A client; `identity` is what Temporal records as the sender of its signals and
    updates (the SDK's `pid@host` when None)."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(codec_keys),
        identity=identity or None,
        tls=access.tls,
        api_key=access.api_key,
    )


async def wait_until_reachable(
    address: str,
    namespace: str,
    codec_keys: Sequence[CodecKey],
    timeout_s: float = 60,
    access: Access = PLAIN,
) -> Client:
    """Connect, retrying while the server starts; raises TimeoutError with the address."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            client = await connect(address, namespace, codec_keys, access=access)
            await client.count_workflows()  # the namespace and visibility answer
            return client
        except Exception as err:  # noqa: BLE001 (any failure while starting means: not yet)
            if loop.time() > deadline:
                raise TimeoutError(f"Temporal at {address} did not answer: {err}") from err
            await asyncio.sleep(0.5)
