"""The Temporal client, built here and nowhere else: always with csops' data
converter, so every payload decodes the same for the worker, CLI and tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError, TLSConfig

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
        """TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
        TEMPORAL_TLS_SERVER_NAME and TEMPORAL_API_KEY."""
        cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
        ca, name = settings.temporal_tls_server_ca, settings.temporal_tls_server_name
        tls: TLSConfig | bool = settings.temporal_tls or bool(settings.temporal_api_key)
        if (cert and key) or ca or name:
            tls = TLSConfig(
                client_cert=cert.read_bytes() if cert else None,
                client_private_key=key.read_bytes() if key else None,
                server_root_ca_cert=ca.read_bytes() if ca else None,
                domain=name or None,
            )
        return cls(tls, settings.temporal_api_key or None)  # empty: none (compose's default)


PLAIN = Access()

# What the SDK's connection errors mean, in the words of the setting that mends them;
# the first whose marker the error contains.
_REACH_PROBLEMS = (
    (
        "NotValidForName",
        "its certificate was issued to another name (set TEMPORAL_TLS_SERVER_NAME)",
    ),
    (
        "InvalidCertificate",
        (
            "its certificate is not signed by a CA this machine trusts "
            "(for a cluster's own CA set TEMPORAL_TLS_SERVER_CA_CERT_PATH)"
        ),
    ),
    ("Connection refused", "nothing listens there; is `csops server` (or `make up`) running?"),
)
# A TLS server that wants a client certificate and gets none hangs up after the
# handshake, in ways that vary with the TLS version and timing (reset, broken pipe,
# no close_notify, ...): the SDK's "after connection" says the handshake was done.
_HUNG_UP = ("call error after connection", "close_notify", "CertificateRequired")


class Unreachable(Exception):
    """Temporal could not be reached; the message says why in one sentence."""


def reach_problem(address: str, err: Exception, access: Access = PLAIN) -> str:
    """One sentence saying why Temporal at `address` could not be reached over
    `access`, and what setting mends it when the error says."""
    said = str(err)
    no_client_cert = access.tls is True or (
        isinstance(access.tls, TLSConfig) and access.tls.client_cert is None
    )
    why = next((why for marker, why in _REACH_PROBLEMS if marker in said), None)
    if why is None and no_client_cert and any(m in said for m in _HUNG_UP):
        why = (
            "it hung up during the TLS handshake: it may want a client certificate "
            "(TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)"
        )
    return f"cannot reach Temporal at {address}: " + (
        why or f"{said}; is `csops server` (or `make up`) running?"
    )


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
    updates (the SDK's `pid@host` when None).

    Raises:
        Unreachable: with the reason in one sentence (`reach_problem`).
    """
    try:
        return await Client.connect(
            address,
            namespace=namespace,
            data_converter=data_converter(codec_keys),
            identity=identity or None,
            tls=access.tls,
            api_key=access.api_key,
        )
    except (RuntimeError, RPCError) as err:
        raise Unreachable(reach_problem(address, err, access)) from err


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
