"""Markdown that shows data as it is: the Temporal UI renders workflow details as
Markdown with math, so `$22,600 … $24,000` in a draft would become a formula, a `|`
a table cell, a backtick code and `<b>` HTML. Customers get plain text, so escaped
text reads exactly as they will read it."""

from __future__ import annotations

import re

# Characters with a meaning anywhere in a line (CommonMark lets a backslash escape any
# ASCII punctuation), and the ones that only mean something at a line's start.
_INLINE = re.compile(r"([\\`*_\[\]<>|$~&])")
_MARKER = re.compile(r"^([#+\-=])")  # a heading, a list item, a rule
_NUMBERED = re.compile(r"^(\d+)([.)])")  # a numbered list item
QUOTE_LINES = 12  # a customer's message longer than this is shortened
QUOTE_CHARS = 1_200


def md(text: str) -> str:
    """`text` as Markdown that renders as exactly this text, on one line."""
    return _INLINE.sub(r"\\\1", " ".join(text.split()))


def md_quote(text: str, *, lines: int | None = None, chars: int | None = None) -> list[str]:
    """`text` as a Markdown blockquote that keeps its line breaks and renders literally;
    with `lines`/`chars`, only that much of it (the caller says where the rest is)."""
    kept = text.strip().splitlines()
    if lines is not None:
        kept = kept[:lines]
    if chars is not None:
        out, used = [], 0
        for line in kept:
            if used + len(line) > chars:
                out.append(line[: max(chars - used, 0)].rstrip() + " …")
                break
            out.append(line)
            used += len(line)
        kept = out
    quoted = []
    for line in kept:
        # No leading spaces: four of them would make a code block.
        escaped = _INLINE.sub(r"\\\1", line.strip())
        escaped = _NUMBERED.sub(r"\1\\\2", _MARKER.sub(r"\\\1", escaped))
        # Two trailing spaces: a hard line break, so the message keeps its lines.
        quoted.append(f"> {escaped}  " if escaped.strip() else ">")
    return quoted


def quote_shortened(text: str, where_whole: str) -> list[str]:
    """A customer's message, quoted; when long, its start and where to read it all."""
    quoted = md_quote(text, lines=QUOTE_LINES, chars=QUOTE_CHARS)
    if quoted == md_quote(text):
        return quoted
    note = f"*Shortened ({len(text):,} characters): the whole text is in {where_whole}.*"
    return [*quoted, "", note]
