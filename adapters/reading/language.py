"""Which language a ticket is written in: `lingua-language-detector`, chosen
because it ships its models inside the wheel and is accurate on short texts.

Only the languages csops reads end to end are candidates; a text none of them
fits with confidence is `unknown`, and the agent sends nothing in reply to it.
"""

from __future__ import annotations

from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

HANDLED = {
    "en": Language.ENGLISH,
    "de": Language.GERMAN,
    "es": Language.SPANISH,
    "fr": Language.FRENCH,
    "pt": Language.PORTUGUESE,
}
UNKNOWN = "unknown"
# Below this, the best candidate is a guess: "Refund" alone is as German as English.
MIN_CONFIDENCE = 0.45
_CODES = {lang: code for code, lang in HANDLED.items()}


@cache
def _detector() -> LanguageDetector:
    # Low-accuracy mode would be faster but misreads one-line tickets.
    return LanguageDetectorBuilder.from_languages(*HANDLED.values()).build()


def detect(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, confidence), or ("unknown", confidence) when no handled
    language fits well enough."""
    values = _detector().compute_language_confidence_values(text)
    if not values:
        return UNKNOWN, 0.0
    best = values[0]
    if best.value < MIN_CONFIDENCE:
        return UNKNOWN, round(best.value, 2)
    return _CODES[best.language], round(best.value, 2)


def warm_up() -> None:
    """Load the models now: the first detection loads them all (2-7 s on 2 cores),
    which a worker should pay at start, not on its first (possibly hot) ticket."""
    detect("warm up")
