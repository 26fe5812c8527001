"""The lexicon (lexicon.yaml) compiled once: every language's patterns of a
category joined into one expression."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

LEXICON_FILE = Path(__file__).with_name("lexicon.yaml")


def _any_of(by_language: dict[str, list[str]]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for patterns in by_language.values() for p in patterns))


def _weights(by_language: dict[str, dict[str, float]]) -> list[tuple[re.Pattern[str], float]]:
    return [(re.compile(p), w) for table in by_language.values() for p, w in table.items()]


@dataclass(frozen=True)
class Lexicon:
    risks: dict[str, re.Pattern[str]]  # in the order the file lists them
    intents: list[tuple[str, re.Pattern[str]]]  # first match wins
    negative: list[tuple[re.Pattern[str], float]]
    positive: list[tuple[re.Pattern[str], float]]
    injection: re.Pattern[str]
    commitments: re.Pattern[str]


@cache
def lexicon() -> Lexicon:
    raw = yaml.safe_load(LEXICON_FILE.read_text(encoding="utf-8"))
    return Lexicon(
        risks={name: _any_of(langs) for name, langs in raw["risks"].items()},
        intents=[(name, _any_of(langs)) for name, langs in raw["intents"].items()],
        negative=_weights(raw["sentiment"]["negative"]),
        positive=_weights(raw["sentiment"]["positive"]),
        injection=_any_of(raw["injection"]),
        commitments=_any_of(raw["commitments"]),
    )
