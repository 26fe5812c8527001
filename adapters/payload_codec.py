"""The optional payload codec: AES-256-GCM over every payload that crosses Temporal.

With `CSOPS_CODEC_KEYS="kid1=BASE64KEY,kid2=BASE64KEY"` set, the worker, the CLI and
`csops codec-server` encrypt and decrypt with the same keys, so Temporal's histories
hold ciphertext. The first key encrypts; every key decrypts. Rotation: put a new key
first and keep the old ones after it until no history needs them.

One encrypted payload: the whole original Payload (metadata and data) serialized,
encrypted under a random 12-byte nonce, with the key id as associated data, so a
payload moved under another key id fails authentication. Its metadata says
`encoding: binary/encrypted` and `encryption-key-id: <kid>`; its data is nonce then
ciphertext. Payloads without that encoding (histories recorded before encryption was
turned on) pass through decode unchanged.

Not encrypted, because no payload codec sees them: search attributes, workflow ids
and types, task queues, timestamps, and failure messages and stack traces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from adapters.codec_keys import ENV_VAR, CodecKey, CodecKeyError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12  # the size GCM is defined for; random per payload

NO_KEYS = (
    f"a payload is encrypted (binary/encrypted) and {ENV_VAR} is not set: "
    "set it to the keys the worker uses"
)


class CodecError(Exception):
    """An encrypted payload cannot be decrypted with the configured keys; one sentence."""


class AesGcmCodec(PayloadCodec):
    """AES-256-GCM: the first key encrypts, every key decrypts."""

    def __init__(self, keys: Sequence[CodecKey]) -> None:
        if not keys:
            raise CodecKeyError("the payload codec needs at least one key")
        self.current = keys[0].kid
        self._ciphers = {k.kid: AESGCM(k.key) for k in keys}

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        kid = self.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, payload.SerializeToString(), kid.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # recorded before encryption was on: readable as it is
        raw_kid = payload.metadata.get(KEY_ID)
        if raw_kid is None:
            raise CodecError(f"an encrypted payload carries no {KEY_ID}, so no key can open it")
        kid = raw_kid.decode("utf-8", "replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise CodecError(
                f"a payload is encrypted with key id {kid!r}, which {ENV_VAR} does not hold "
                f"(it holds {', '.join(map(repr, self._ciphers))}): add that key after the current one"
            )
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], raw_kid)
        except InvalidTag:
            raise CodecError(
                f"a payload under key id {kid!r} failed authentication: the key {ENV_VAR} "
                "gives that id is not the one it was encrypted with, or the payload was altered"
            ) from None
        return Payload.FromString(plain)


def decode_problem(err: BaseException) -> str | None:
    """The one sentence to show for a payload csops could not decode (`err` or its
    causes), or None when `err` is about something else."""
    seen: BaseException | None = err
    for _ in range(10):  # a cause chain is short; never loop on a cycle
        if seen is None:
            return None
        if isinstance(seen, CodecError):
            return str(seen)
        if isinstance(seen, KeyError) and ENCODING.decode() in str(seen):
            return NO_KEYS  # the SDK's "Unknown payload encoding binary/encrypted"
        seen = seen.__cause__ or seen.__context__
    return None
