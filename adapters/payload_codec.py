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

import base64
import binascii
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENV_VAR = "CSOPS_CODEC_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the size GCM is defined for; random per payload
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")

NO_KEYS = (
    f"a payload is encrypted (binary/encrypted) and {ENV_VAR} is not set: "
    "set it to the keys the worker uses"
)


class CodecKeyError(ValueError):
    """CSOPS_CODEC_KEYS holds a value csops cannot use: one sentence without the
    variable's name (the settings error puts it in front) and never a key."""


class CodecError(Exception):
    """An encrypted payload cannot be decrypted with the configured keys; one sentence."""


@dataclass(frozen=True)
class CodecKey:
    kid: str
    key: bytes = field(repr=False)


def parse_codec_keys(value: str) -> tuple[CodecKey, ...]:
    """`kid1=BASE64,kid2=BASE64` -> keys in order (the first encrypts).

    Raises:
        CodecKeyError: the first problem found, in one sentence naming the key id.
    """
    if not value.strip():
        raise CodecKeyError(
            "set but empty; unset it to run without encryption, "
            "or give kid=base64key[,kid=base64key...]"
        )
    keys: list[CodecKey] = []
    for position, entry in enumerate(value.split(","), start=1):
        kid, sep, encoded = (part.strip() for part in entry.partition("="))
        if not entry.strip():
            raise CodecKeyError(f"entry {position} is empty (a stray comma?)")
        if not sep or not kid or not encoded:
            raise CodecKeyError(f"entry {position} is not kid=base64key")
        if not _KID.fullmatch(kid):
            raise CodecKeyError(
                f"key id {kid!r} may only use letters, digits, '.', '_' and '-' (at most 64)"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"key {kid!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise CodecKeyError(f"key {kid!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if any(k.kid == kid for k in keys):
            raise CodecKeyError(f"key id {kid!r} is given twice")
        keys.append(CodecKey(kid, key))
    return tuple(keys)


def new_key_entry(kid: str | None = None) -> str:
    """A fresh `kid=base64key` for CSOPS_CODEC_KEYS (32 random bytes)."""
    kid = kid or f"k{secrets.token_hex(4)}"
    if not _KID.fullmatch(kid):
        raise CodecKeyError(
            f"key id {kid!r} may only use letters, digits, '.', '_' and '-' (at most 64)"
        )
    return f"{kid}={base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


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
