"""Text as the rules read it: what a person would see, plus what is hidden.

Rules match folded text: lower case, accents and look-alike letters folded to
ASCII by `anyascii` (a maintained transliteration table: Cyrillic "і" reads as
"i", "ä" as "a"), zero-width characters removed. Hidden parts of a ticket
(HTML comments, invisible elements, base64 blobs) are decoded and read too,
because that is where instructions meant for the agent hide.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from dataclasses import dataclass, field

from anyascii import anyascii

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\ufeff\u00ad]")
_HTML_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
_HIDDEN_ELEMENT = re.compile(
    r"<(\w+)[^>]*(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|hidden)[^>]*>"
    r"(.*?)</\1>",
    re.DOTALL | re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]+>")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass
class Folded:
    """The ticket's text folded for the rules, and why parts of it were hidden."""

    text: str
    hidden: list[str] = field(default_factory=list)  # what kind of hiding was found


def fold(text: str) -> str:
    """Lower-case ASCII with look-alikes and accents folded, zero-width removed."""
    text = _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))
    return anyascii(text).lower()


def _mixed_script_words(text: str) -> bool:
    """A word mixing Latin with Cyrillic or Greek letters: a look-alike disguise."""
    for word in _LETTERS.findall(text):
        scripts = {unicodedata.name(ch, "").split(" ")[0] for ch in word}
        if "LATIN" in scripts and scripts & {"CYRILLIC", "GREEK"}:
            return True
    return False


def _decoded_base64(text: str) -> list[str]:
    decoded = []
    for blob in _BASE64.findall(text):
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
            plain = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if sum(ch.isprintable() or ch.isspace() for ch in plain) >= 0.9 * len(plain):
            decoded.append(plain)
    return decoded


def read_all(text: str) -> Folded:
    """Everything in the ticket a reader or a model could be told, folded."""
    hidden: list[str] = []
    parts = [text]
    if _ZERO_WIDTH.search(text):
        hidden.append("zero-width characters")
    if _mixed_script_words(text):
        hidden.append("look-alike letters from another alphabet")
    comments = _HTML_COMMENT.findall(text)
    invisible = [inner for _, inner in _HIDDEN_ELEMENT.findall(text)]
    if comments or invisible:
        hidden.append("hidden HTML")
        parts += comments + invisible
    visible = html.unescape(_TAG.sub(" ", _HTML_COMMENT.sub(" ", text)))
    parts.append(visible)
    decoded = _decoded_base64(text)
    if decoded:
        hidden.append("base64-encoded text")
        parts += decoded
    return Folded(text=fold("\n".join(parts)), hidden=hidden)
