"""The deterministic offline engine: the same typed outputs as the model, made
from rules, data and templates, so csops is useful without an API key.

It reads English, German, Spanish, French and Portuguese (adapters/reading), and
it answers only from a source: the reply quotes the best-matching help-centre
article or past answer and cites it. Without a confident source in the
customer's language it composes nothing to send; a human gets the ticket with
the candidates attached.
"""

from __future__ import annotations

from adapters.knowledge import Candidate
from adapters.reading.language import HANDLED, UNKNOWN
from adapters.reading.reader import Reading, read_ticket
from adapters.templates import render
from contracts.escalation import DraftReply, TicketAssessment, TicketContext
from contracts.knowledge import Grounding

ENGINE = "offline"
# Risk categories that are critical on their own; churn is high; the rest medium.
_CRITICAL = {"security_incident", "data_loss", "outage"}
_COMMERCIAL_INTENTS = ("cancellation", "contract", "refund_request", "renewal_signature")


def severity_of(reading: Reading, priority: str | None) -> str:
    if set(reading.risks) & _CRITICAL:
        return "critical"
    if "churn_threat" in reading.risks or priority == "urgent" or reading.sentiment <= -0.6:
        return "high"
    if (
        reading.risks
        or priority == "high"
        or reading.sentiment <= -0.4
        or reading.intent in (*_COMMERCIAL_INTENTS, "bug_report", "billing")
    ):
        return "medium"
    return "low"


def assess(ctx: TicketContext) -> TicketAssessment:
    return _assessment_of(read_ticket(ctx.ticket.subject, ctx.ticket.body), ctx.ticket.priority)


def _assessment_of(reading: Reading, priority: str | None) -> TicketAssessment:
    reasons = [f"intent {reading.intent} by keyword rules"]
    confidence = 0.85 if reading.intent != "other" else 0.5
    if reading.language == UNKNOWN:
        confidence = 0.3
        reasons.append(
            f"language not recognised with confidence ({reading.language_confidence:.2f}); "
            f"csops reads {', '.join(HANDLED)}"
        )
    if reading.risks:
        reasons.append(f"risk: {', '.join(reading.risks)}")
    if reading.injection:
        confidence = min(confidence, 0.4)
        reasons += reading.injection
    severity = severity_of(reading, priority)
    return TicketAssessment(
        intent=reading.intent,
        sentiment=reading.sentiment,
        severity=severity,
        hot=reading.sentiment <= -0.6 or severity == "critical",
        confidence=confidence,
        language=reading.language,
        injection_suspected=bool(reading.injection),
        risks=reading.risks,
        reasons=reasons,
        engine=ENGINE,
    )


def renewal_summary(package) -> str:
    """The package's story in a few sentences, every figure taken from the package."""
    return render("artifacts/renewal_summary.md.j2", p=package)


def _reply_language(language: str) -> str:
    return language if language in HANDLED else "en"


def reply_frame(ctx: TicketContext, language: str) -> dict:
    """What every reply shares: who it greets, in which language."""
    return {
        "lang": _reply_language(language),
        "greeting_name": (ctx.account.primary_contact_name or "").split(" ")[0],
        "ticket_id": ctx.ticket.ticket_id,
    }


def reply_subject(ctx: TicketContext, language: str) -> str:
    """The subject of every reply, whoever wrote the body."""
    lang, ticket_id = _reply_language(language), ctx.ticket.ticket_id
    return render("messages/reply_subject.txt.j2", lang=lang, ticket_id=ticket_id).strip()


def draft_reply(
    ctx: TicketContext,
    assessment: TicketAssessment,
    candidates: list[Candidate],
    grounding: Grounding,
) -> DraftReply:
    """A reply grounded in the best candidate, or an empty frame a human fills in.

    Sendable as it stands only when retrieval is confident, the source is in the
    customer's language and that language was read with confidence.
    """
    refs = [c.ref for c in candidates]
    frame = reply_frame(ctx, assessment.language)
    subject = reply_subject(ctx, assessment.language)
    confident = grounding.confident(refs)
    problems = []
    if assessment.language == UNKNOWN:
        problems.append("the ticket's language could not be read with confidence")
    if not confident:
        problems.append(
            "no source answers this with confidence"
            + (f" (best: {refs[0].citation()}, score {refs[0].score:.1f})" if refs else "")
        )
    elif refs[0].language != assessment.language:
        problems.append(
            f"the best source is in {refs[0].language!r} but the customer wrote in "
            f"{assessment.language!r}: translate it"
        )
    best = candidates[0] if confident else None
    body = render("messages/customer_reply.md.j2", **frame, source=best.ref if best else None,
                  answer=best.answer if best else None)  # fmt: skip
    notes = [f"Not sendable as it stands: {p}." for p in problems]
    if not best:
        notes.append("Write the answer between the greeting and the sign-off.")
    notes += [f"Candidate source: {r.citation()} (score {r.score:.1f})" for r in refs]
    return DraftReply(
        subject=subject,
        body=body.strip() + "\n",
        engine=ENGINE,
        sources=[best.ref] if best else [],
        candidates=refs,
        notes=notes,
        not_sendable="; ".join(problems) or None,
    )


# Intents the rules may see that a model's answer can never lower.
_FLOOR_INTENTS = ("refund_request", "renewal_signature", "contract", "cancellation", "outage")
_SEVERITY = ["low", "medium", "high", "critical"]


def with_rule_floor(model: TicketAssessment, ctx: TicketContext) -> TicketAssessment:
    """The model's assessment, never below the rule reading: a model fooled by the
    ticket cannot call a refund, a contract, a security incident or an injection a
    how-to. Risks, injection and hot only add up; severity and sentiment take the
    worse; the language is the detector's."""
    reading = read_ticket(ctx.ticket.subject, ctx.ticket.body)
    rules = _assessment_of(reading, ctx.ticket.priority)
    floor_reasons = []
    intent = model.intent
    if rules.intent in _FLOOR_INTENTS and model.intent != rules.intent:
        intent = rules.intent
        floor_reasons.append(f"rule floor: intent {rules.intent}, not {model.intent}")
    risks = list(dict.fromkeys([*model.risks, *rules.risks]))
    if set(risks) - set(model.risks):
        floor_reasons.append(f"rule floor: risk {', '.join(sorted(set(risks) - set(model.risks)))}")
    injection = model.injection_suspected or rules.injection_suspected
    if injection and not model.injection_suspected:
        floor_reasons += [f"rule check: {sign}" for sign in reading.injection]
    severity = max(model.severity, rules.severity, key=_SEVERITY.index)
    return model.model_copy(
        update={
            "intent": intent,
            "risks": risks,
            "injection_suspected": injection,
            "severity": severity,
            "sentiment": min(model.sentiment, rules.sentiment),
            "hot": model.hot or rules.hot,
            "language": rules.language,
            "confidence": min(model.confidence, rules.confidence)
            if injection
            else model.confidence,
            "reasons": [*model.reasons, *floor_reasons],
        }
    )
