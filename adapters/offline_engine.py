"""The deterministic offline engine: the same typed outputs as the model, made
from rules, data and templates, so csops is useful without an API key.

It reads English only. Anything else, or anything it does not recognise, comes
back with low confidence, which sends the work to a human.
"""

from __future__ import annotations

import re

from adapters.templates import render
from contracts.escalation import DraftReply, TicketAssessment, TicketContext

ENGINE = "offline"

# Common function words per language: enough to tell what a ticket is written in.
_STOPWORDS = {
    "en": [
        "the",
        "and",
        "is",
        "are",
        "to",
        "of",
        "we",
        "our",
        "you",
        "your",
        "it",
        "this",
        "that",
        "with",
        "for",
        "not",
        "have",
        "please",
        "can",
    ],
    "es": [
        "el",
        "la",
        "los",
        "las",
        "es",
        "y",
        "de",
        "que",
        "en",
        "por",
        "favor",
        "nuestro",
        "nuestra",
        "no",
        "para",
        "con",
        "una",
        "un",
    ],
    "de": [
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "wir",
        "unser",
        "bitte",
        "mit",
        "für",
        "ein",
        "eine",
        "ich",
        "sie",
        "zu",
    ],
    "fr": [
        "le",
        "la",
        "les",
        "est",
        "et",
        "de",
        "que",
        "nous",
        "notre",
        "pas",
        "pour",
        "avec",
        "une",
        "un",
        "je",
        "vous",
        "ne",
    ],
    "pt": [
        "o",
        "a",
        "os",
        "as",
        "é",
        "e",
        "de",
        "que",
        "em",
        "nosso",
        "nossa",
        "não",
        "para",
        "com",
        "uma",
        "um",
        "por",
        "favor",
    ],
}

# Ordered: the first intent whose pattern matches wins (refunds before billing).
_INTENTS = [
    ("refund_request", r"\brefund|money back|reimburse"),
    ("renewal_signature", r"sign(ing)? (the |our )?renewal|renewal (contract|order form)"),
    ("contract", r"non-standard|contract terms|custom terms|liability|indemnif|redline|\bmsa\b"),
    ("cancellation", r"\bcancel|terminate|not (going to )?renew|churn"),
    ("outage", r"\bdown\b|outage|not loading|unavailable|5\d\d error"),
    ("bug_report", r"\bbug\b|error|broken|crash|not working|doesn'?t work|fails?\b"),
    ("billing", r"invoice|billing|charged?\b|payment"),
    ("feature_request", r"feature request|would be (great|nice) if|can you add"),
    ("how_to", r"how (do|can|to)|where (do|can) i|is there a way|set ?up|configure|export"),
]

_NEGATIVE = {
    "unacceptable": 0.5,
    "furious": 0.5,
    "angry": 0.35,
    "terrible": 0.35,
    "worst": 0.35,
    "ridiculous": 0.3,
    "frustrated": 0.3,
    "frustrating": 0.3,
    "disappointed": 0.25,
    "evaluating other vendors": 0.4,
    "alternatives": 0.2,
    "again": 0.1,
    "still": 0.1,
    "urgent": 0.15,
    "asap": 0.15,
    "broken": 0.15,
    "useless": 0.35,
    "lawyer": 0.4,
    # Quieter anger: churn intent, repeat failures, escalations.
    "not acceptable": 0.45,
    "considering cancel": 0.45,
    "cancelling": 0.3,
    "fed up": 0.4,
    "third time": 0.3,
    "wrong answers": 0.3,
    "escalation": 0.2,
    "disappointing": 0.25,
    "waste of": 0.35,
    "no one has": 0.2,
    "nobody has": 0.2,
    "still waiting": 0.25,
}
_POSITIVE = {"thanks": 0.15, "thank you": 0.2, "great": 0.15, "love": 0.25, "appreciate": 0.2}

# Text that tries to instruct the agent instead of asking for help.
_INJECTION = re.compile(
    r"ignore (all |your |the |any )?(previous |prior )?(instructions|rules)|disregard (the |your )?"
    r"|system prompt|you are now|as (the|an|your) admin|i (hereby )?approve|override (the )?policy"
    r"|developer mode|act as",
    re.IGNORECASE,
)


def detect_language(text: str) -> str:
    words = re.findall(r"[a-zäöüßéèêàçñáíóúãõ']+", text.lower())
    if not words:
        return "unknown"
    scores = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    lang, best = max(scores.items(), key=lambda kv: kv[1])
    return lang if best >= 2 else "unknown"


def assess(ctx: TicketContext) -> TicketAssessment:
    text = f"{ctx.ticket.subject}\n{ctx.ticket.body}"
    lowered = text.lower()
    language = detect_language(text)
    reasons: list[str] = []

    intent = next((name for name, pat in _INTENTS if re.search(pat, lowered)), "other")
    sentiment = sum(w for p, w in _POSITIVE.items() if p in lowered)
    sentiment -= sum(w for p, w in _NEGATIVE.items() if p in lowered)
    sentiment -= 0.1 * min(3, text.count("!"))
    sentiment = max(-1.0, min(1.0, round(sentiment, 2)))

    if intent == "outage" or sentiment <= -0.8:
        severity = "critical" if intent == "outage" and sentiment <= -0.3 else "high"
    elif sentiment <= -0.4 or intent in ("cancellation", "contract", "refund_request"):
        severity = "high" if sentiment <= -0.6 else "medium"
    elif intent in ("bug_report", "billing"):
        severity = "medium"
    else:
        severity = "low"

    confidence = 0.85 if intent != "other" else 0.5
    if language != "en":
        confidence = 0.3
        reasons.append(f"written in {language!r}: the offline engine reads English only")
    injection = bool(_INJECTION.search(text))
    if injection:
        confidence = min(confidence, 0.4)
        reasons.append("the ticket contains instructions addressed to the agent")
    reasons.append(f"intent {intent} by keyword rules")

    return TicketAssessment(
        intent=intent,
        sentiment=sentiment,
        severity=severity,
        hot=sentiment <= -0.6 or severity == "critical",
        confidence=confidence,
        language=language,
        injection_suspected=injection,
        reasons=reasons,
        engine=ENGINE,
    )


def renewal_summary(package) -> str:
    """The package's story in a few sentences, every figure taken from the package."""
    return render("artifacts/renewal_summary.md.j2", p=package)


def draft_reply(ctx: TicketContext, assessment: TicketAssessment) -> DraftReply:
    body = render(
        "messages/customer_reply.md.j2",
        ticket=ctx.ticket,
        account=ctx.account,
        assessment=assessment,
        greeting_name=(ctx.account.primary_contact_name or "there").split(" ")[0],
    )
    return DraftReply(subject=f"Re: {ctx.ticket.subject}", body=body, engine=ENGINE)
