"""The rule reading of a ticket: language, intent, sentiment, risk categories
and signs of instructions aimed at the agent, in every handled language.

The offline engine's assessment is this reading; with a model, it is the floor
the model's answer cannot go below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adapters.reading import language
from adapters.reading.folding import Folded, fold, read_all
from adapters.reading.lexicon import lexicon

# Intents that outrank everything the lexicon's `intents` list reads: the risk
# categories that are requests of their own.
_REFUND_WORDS = re.compile(r"refund|money back|rembours|reembols|erstatt|estorno|geld zuruck")
_RISK_INTENTS = [("churn_threat", "cancellation"), ("outage", "outage")]
_COMMERCIAL = ("renewal_signature", "contract")


@dataclass
class Reading:
    language: str
    language_confidence: float
    intent: str
    sentiment: float
    risks: list[str] = field(default_factory=list)
    injection: list[str] = field(default_factory=list)  # why it looks like one; empty if not


def sentiment_of(folded: str) -> float:
    lex = lexicon()
    score = sum(w for p, w in lex.positive if p.search(folded))
    score -= sum(w for p, w in lex.negative if p.search(folded))
    return max(-1.0, min(1.0, round(score, 2)))


def intent_of(folded: str, risks: list[str]) -> str:
    """Refunds, then signatures and contract terms, then cancellations and outages,
    then the rest of the lexicon's intents in order."""
    if "billing_dispute" in risks and _REFUND_WORDS.search(folded):
        return "refund_request"
    ordered = lexicon().intents
    for name, pattern in ordered:
        if name in _COMMERCIAL and pattern.search(folded):
            return name
    for risk, intent in _RISK_INTENTS:
        if risk in risks:
            return intent
    found = next((n for n, p in ordered if n not in _COMMERCIAL and p.search(folded)), None)
    # A question nothing else names is still a question: whether the agent can
    # answer it is retrieval's call, not the keyword list's.
    return found or ("how_to" if "?" in folded else "other")


def injection_signs(every_part: Folded) -> list[str]:
    """Why the text looks like it addresses the agent (empty when it does not)."""
    signs = []
    match = lexicon().injection.search(every_part.text)
    if match:
        signs.append(f'instructions addressed to the agent ("{match.group(0)[:60]}")')
    signs += [f"{how} in the ticket" for how in every_part.hidden]
    return signs


def read_ticket(subject: str, body: str) -> Reading:
    text = f"{subject}\n{body}"
    every_part = read_all(text)
    folded = every_part.text
    lang, confidence = language.detect(text)
    risks = [name for name, pattern in lexicon().risks.items() if pattern.search(folded)]
    sentiment = sentiment_of(folded) - 0.1 * min(3, text.count("!"))
    return Reading(
        language=lang,
        language_confidence=confidence,
        intent=intent_of(folded, risks),
        sentiment=max(-1.0, round(sentiment, 2)),
        risks=risks,
        injection=injection_signs(every_part),
    )


def commitments_in(text: str) -> list[str]:
    """Commitments (refund, discount, credit, price, signature, deadline...) a text makes."""
    return sorted({m.group(0) for m in lexicon().commitments.finditer(fold(text))})
