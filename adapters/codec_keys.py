"""The payload codec's keys as CSOPS_CODEC_KEYS gives them: parsed and made here,
apart from the codec itself, so reading the settings imports neither Temporal nor
the cipher (every `csops` command reads them, `csops --help` included)."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass, field

ENV_VAR = "CSOPS_CODEC_KEYS"
KEY_BYTES = 32  # AES-256
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CodecKeyError(ValueError):
    """CSOPS_CODEC_KEYS holds a value csops cannot use: one sentence without the
    variable's name (the settings error puts it in front) and never a key."""


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
