"""Investigation on demand: the evidence gathered (context/evidence.py), the
offline engine's synthesis from it, the check every model claim passes, the QBR
narrative drafted from checked claims, and the stores.

The offline synthesis says only what the data says: each rule below fires on
figures of the evidence and cites the items it read. A model's claim is shown
only when it cites evidence ids, all of them among those it was given; the
others are dropped and counted, never shown as fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from activities.errors import permanent_not_found
from adapters.reading.reader import read_ticket
from adapters.templates import render_for_activity
from context.db import session
from context.evidence import Stored, gather_evidence, stored_row
from context.renewal_sections import label
from context.tables import Investigation, QbrNarrative
from contracts.investigation import (
    Claim,
    ClaimSection,
    DroppedClaim,
    Evidence,
    EvidenceInput,
    EvidenceItem,
    ModelSynthesis,
    StoredInvestigation,
    StoredQbr,
    StoreInvestigationInput,
    StoreQbrInput,
    Synthesis,
    SynthesisInput,
)

OFFLINE_ENGINE = "offline"
# Usage: the last WEEKS full weeks against the WEEKS before, per day.
WEEKS = 4
USAGE_DOWN_PCT, USAGE_UP_PCT = -10.0, 10.0
SEATS_FULL_PCT, SEATS_IDLE_PCT = 85.0, 40.0  # active users per day / seats
DETRACTOR_AT_MOST, PROMOTER_AT_LEAST = 6, 9  # NPS: 0-6 detract, 9-10 promote
NEGATIVE_SENTIMENT, POSITIVE_SENTIMENT = -0.3, 0.3  # contacts
STALE_DAYS = 45  # a champion or decision maker not touched for longer
NEGATIVE_TALK, POSITIVE_TALK = -0.4, 0.4  # a note or call, by the ticket reader's rules
# Words a question carries that match nothing by themselves.
STOPWORDS = frozenset(
    "the and for are was were what why how who whom which where when with this that these "
    "those from into about over under their there they them have has had does did not any "
    "all our your you its it's is be been being can could should would will shall may "
    "might must tell show give me us last days day account customer".split()
)


# ---------------------------------------------------------------- usage figures


@dataclass
class UsageTrend:
    """One feature over the last WEEKS full weeks against the WEEKS before."""

    feature: str
    last: float  # per day
    previous: float | None  # per day; None without WEEKS full weeks before
    change_pct: float | None
    ids: list[str]  # the weeks read, oldest first

    def text(self) -> str:
        weeks = f"the last {WEEKS} full weeks"
        if self.previous is None or self.change_pct is None:
            return f"{label(self.feature)}: {self.last:,.2f}/day over {weeks}"
        return (
            f"{label(self.feature)} {'down' if self.change_pct < 0 else 'up'} "
            f"{abs(self.change_pct):.1f}%: {self.last:,.2f}/day over {weeks} vs "
            f"{self.previous:,.2f}/day over the {WEEKS} before"
        )


def usage_trends(evidence: Evidence) -> list[UsageTrend]:
    """Per feature, from the full weeks (7 days inside the window) of its usage items."""
    weeks: dict[str, list[EvidenceItem]] = {}
    for item in evidence.items:
        if item.kind == "usage" and item.figures.get("days") == 7:
            weeks.setdefault(str(item.figures["feature"]), []).append(item)
    trends = []
    for feature, items in weeks.items():
        last, before = items[-WEEKS:], items[-2 * WEEKS : -WEEKS]
        last_avg = round(sum(float(i.figures["per_day"] or 0) for i in last) / len(last), 2)
        previous = (
            round(sum(float(i.figures["per_day"] or 0) for i in before) / WEEKS, 2)
            if len(before) == WEEKS
            else None
        )
        change = round((last_avg - previous) / previous * 100, 1) if previous else None
        trends.append(
            UsageTrend(feature, last_avg, previous, change, [i.id for i in [*before, *last]])
        )
    return trends


# ---------------------------------------------------------------- offline rules


def _claims_on_usage(evidence: Evidence, trends: list[UsageTrend]) -> list[Claim]:
    claims = []
    down = [t for t in trends if t.change_pct is not None and t.change_pct <= USAGE_DOWN_PCT]
    up = [t for t in trends if t.change_pct is not None and t.change_pct >= USAGE_UP_PCT]
    for t in down:
        claims.append(Claim(section="risk", text=t.text(), evidence=t.ids))
    for t in up:
        claims.append(Claim(section="strength", text=t.text(), evidence=t.ids))
    if down:
        features = ", ".join(label(t.feature) for t in down)
        claims.append(
            Claim(
                section="next_step",
                text=f"Review the adoption of {features} with the customer's team: "
                "find what stopped and who owns it.",
                evidence=[i for t in down for i in t.ids],
            )
        )
    seats = evidence.account.seats
    users = next((t for t in trends if t.feature == "active_users"), None)
    if users and seats > 0:
        share = users.last / seats * 100
        recent = users.ids[-WEEKS:]
        said = (
            f"{users.last:,.2f} active users/day over the last {WEEKS} full weeks on "
            f"{seats:,} seats ({share:.0f}%)"
        )
        if share >= SEATS_FULL_PCT:
            claims.append(Claim(section="strength", text=said, evidence=recent))
            claims.append(
                Claim(
                    section="next_step",
                    text=f"Discuss more seats: {share:.0f}% of the {seats:,} seats are in use.",
                    evidence=recent,
                )
            )
        elif share < SEATS_IDLE_PCT:
            claims.append(Claim(section="risk", text=f"only {said}", evidence=recent))
    return claims


def _claims_on_tickets(items: list[EvidenceItem]) -> list[Claim]:
    tickets = [i for i in items if i.kind == "ticket"]
    still_open = [i for i in tickets if i.figures.get("open")]
    if still_open:
        return [
            Claim(
                section="risk",
                text=f"{len(still_open)} open ticket(s): "
                + "; ".join(i.title.removeprefix("ticket ") for i in still_open),
                evidence=[i.id for i in still_open],
            ),
            Claim(
                section="next_step",
                text="Get the open tickets resolved with support and tell the customer "
                "where each stands.",
                evidence=[i.id for i in still_open],
            ),
        ]
    if tickets:
        return [
            Claim(
                section="strength",
                text=f"no open ticket: all {len(tickets)} ticket(s) of the window are closed",
                evidence=[i.id for i in tickets],
            )
        ]
    return []


def _claims_on_nps(items: list[EvidenceItem]) -> list[Claim]:
    answers = [i for i in items if i.kind == "nps"]
    detractors = [i for i in answers if int(i.figures["score"] or 0) <= DETRACTOR_AT_MOST]
    promoters = [i for i in answers if int(i.figures["score"] or 0) >= PROMOTER_AT_LEAST]
    claims = []

    def who(group: list[EvidenceItem]) -> str:
        return ", ".join(f"{i.figures['contact_email']} ({i.figures['score']}/10)" for i in group)

    if detractors:
        ids = [i.id for i in detractors]
        claims.append(
            Claim(section="risk", text=f"NPS detractor(s): {who(detractors)}", evidence=ids)
        )
        claims.append(
            Claim(
                section="next_step",
                text=f"Call back the detractor(s) ({who(detractors)}) and close the loop "
                "on what they said.",
                evidence=ids,
            )
        )
    if promoters:
        ids = [i.id for i in promoters]
        claims.append(
            Claim(section="strength", text=f"NPS promoter(s): {who(promoters)}", evidence=ids)
        )
    return claims


def _mentions(items: list[EvidenceItem], name: str) -> list[str]:
    """Notes and calls that name the person."""
    return [i.id for i in items if i.kind in ("note", "call") and name in i.text]


def _claims_on_contacts(items: list[EvidenceItem]) -> list[Claim]:
    claims = []
    for c in (i for i in items if i.kind == "contact" and i.figures.get("key")):
        name = str(c.figures["name"])
        sentiment = float(c.figures["sentiment"] or 0)
        since = c.figures.get("days_since_touch")
        cited = [c.id, *_mentions(items, name)]
        if sentiment <= NEGATIVE_SENTIMENT:
            claims.append(
                Claim(section="risk", text=f"{c.title} is negative: {c.text}", evidence=cited)
            )
        elif sentiment >= POSITIVE_SENTIMENT:
            claims.append(
                Claim(section="strength", text=f"{c.title} is positive: {c.text}", evidence=cited)
            )
        if since is None or int(since) > STALE_DAYS:
            gap = "never touched" if since is None else f"not touched in {since} days"
            claims.append(Claim(section="risk", text=f"{c.title}: {gap}", evidence=[c.id]))
            claims.append(
                Claim(section="next_step", text=f"Re-engage {name} ({gap}).", evidence=[c.id])
            )
    return claims


def _claims_on_talks(items: list[EvidenceItem]) -> list[Claim]:
    claims = []
    for i in (i for i in items if i.kind in ("note", "call")):
        reading = read_ticket(i.title, i.text)
        quoted = f"{i.title} on {i.at}: “{i.text}”"
        if reading.risks or reading.sentiment <= NEGATIVE_TALK:
            why = ", ".join(r.replace("_", " ") for r in reading.risks) or "negative"
            claims.append(Claim(section="risk", text=f"{why} in the {quoted}", evidence=[i.id]))
        elif reading.sentiment >= POSITIVE_TALK:
            claims.append(Claim(section="strength", text=f"positive {quoted}", evidence=[i.id]))
    return claims


def _claims_on_health(items: list[EvidenceItem]) -> list[Claim]:
    claims: list[Claim] = []
    for h in (i for i in items if i.kind == "health"):
        section: ClaimSection = "strength" if h.figures.get("band") == "healthy" else "risk"
        claims.append(Claim(section=section, text=h.text, evidence=[h.id]))
    return claims


def offline_claims(evidence: Evidence) -> list[Claim]:
    """Every rule that fires on the evidence, risks first, then strengths, then next steps."""
    items = evidence.items
    claims = [
        *_claims_on_health(items),
        *_claims_on_usage(evidence, usage_trends(evidence)),
        *_claims_on_tickets(items),
        *_claims_on_nps(items),
        *_claims_on_contacts(items),
        *_claims_on_talks(items),
    ]
    order = {"risk": 0, "strength": 1, "next_step": 2}
    return sorted(claims, key=lambda c: order[c.section])


def keywords(question: str) -> list[str]:
    words = re.findall(r"[a-z0-9][a-z0-9_-]+", question.lower())
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS))


def question_first(
    claims: list[Claim], evidence: Evidence, question: str
) -> tuple[list[Claim], str]:
    """The offline engine reads no question: the claims whose text or evidence
    holds one of its keywords come first, flagged, and the note says so."""
    words = keywords(question)
    by_id = {i.id: i for i in evidence.items}

    def matches(claim: Claim) -> bool:
        said = [
            claim.text,
            *(f"{by_id[e].id} {by_id[e].title} {by_id[e].text}" for e in claim.evidence),
        ]
        text = " ".join(said).lower()
        return any(w in text for w in words)

    flagged = [c.model_copy(update={"matches_question": matches(c)}) for c in claims]
    first = [c for c in flagged if c.matches_question]
    note = (
        f"Offline engine: no model read the question; the {len(first)} claim(s) whose "
        f"evidence matches its keywords ({', '.join(words)}) come first."
        if first
        else "Offline engine: no model read the question, and no claim matches its "
        f"keywords ({', '.join(words) or 'none'}); every claim is listed."
    )
    return first + [c for c in flagged if not c.matches_question], note


def checked_claims(
    answer: ModelSynthesis, evidence: Evidence
) -> tuple[list[Claim], list[DroppedClaim]]:
    """The model's claims that cite evidence, all of it among the ids it was given;
    the others dropped, with why."""
    given = set(evidence.ids())
    kept, dropped = [], []
    for claim in answer.claims:
        cited = list(dict.fromkeys(claim.evidence))
        unknown = [c for c in cited if c not in given]
        problem = (
            "its text is empty"
            if not claim.text.strip()
            else "it cites no evidence"
            if not cited
            else f"it cites evidence it was not given: {', '.join(unknown)}"
            if unknown
            else None
        )
        if problem:
            dropped.append(DroppedClaim(text=claim.text, evidence=cited, reason=problem))
        else:
            kept.append(Claim(section=claim.section, text=claim.text, evidence=cited))
    return kept, dropped


def qbr_narrative(evidence: Evidence, claims: list[Claim], engine: str, quarter: str | None) -> str:
    """The executive QBR narrative: outcomes delivered, usage and adoption, risks and
    asks, next quarter; each line a checked claim or a usage figure, with its ids."""
    usage_ids = {i.id for i in evidence.items if i.kind == "usage"}
    on_usage = [c for c in claims if c.section != "next_step" and set(c.evidence) & usage_ids]
    covered = {e for c in on_usage for e in c.evidence}
    figures = [t for t in usage_trends(evidence) if not set(t.ids) & covered]
    return render_for_activity(
        "artifacts/qbr_narrative.md.j2",
        account=evidence.account,
        evidence=evidence,
        quarter=quarter,
        engine=engine,
        outcomes=[c for c in claims if c.section == "strength" and c not in on_usage],
        usage=on_usage,
        figures=figures,
        risks=[c for c in claims if c.section == "risk" and c not in on_usage],
        next_steps=[c for c in claims if c.section == "next_step"],
    )


def offline_synthesis(inp: SynthesisInput, engine: str = OFFLINE_ENGINE) -> Synthesis:
    """The offline engine's synthesis (and QBR draft) of the evidence."""
    claims, note = offline_claims(inp.evidence), ""
    if inp.question:
        claims, note = question_first(claims, inp.evidence, inp.question)
    return finished(inp, claims, engine, note)


def finished(
    inp: SynthesisInput,
    claims: list[Claim],
    engine: str,
    note: str,
    dropped: Iterable[DroppedClaim] = (),
) -> Synthesis:
    """The synthesis, with the QBR draft in qbr mode."""
    narrative = (
        qbr_narrative(inp.evidence, claims, engine, inp.quarter) if inp.mode == "qbr" else ""
    )
    return Synthesis(
        claims=claims, engine=engine, dropped=list(dropped), answer_note=note, narrative=narrative
    )


# ---------------------------------------------------------------- activities


def _insert_once(engine: Engine, row: Stored) -> int:
    """Insert the run's row, or find the one a previous attempt stored (unique
    workflow id): the store is idempotent."""
    with session(engine) as s:
        found = stored_row(s, type(row), row.workflow_id)
        if found is None:
            s.add(row)
            try:
                s.commit()
                found = row
            except IntegrityError:
                s.rollback()  # a concurrent attempt stored it first
                found = stored_row(s, type(row), row.workflow_id)
        assert found is not None and found.id is not None
        return found.id


class InvestigationActivities:
    """Synchronous DB work on the worker's thread pool."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="gather_evidence")
    def gather_evidence(self, inp: EvidenceInput) -> Evidence:
        """Every evidence item of the account's last `days` days, each with its id."""
        with session(self._engine) as s, permanent_not_found():
            return gather_evidence(s, inp.account_id, inp.as_of, inp.days)

    @activity.defn(name="synthesize_offline")
    def synthesize_offline(self, inp: SynthesisInput) -> Synthesis:
        """The offline engine's synthesis: when the model could not answer at all."""
        return offline_synthesis(inp, f"{OFFLINE_ENGINE} (the model did not answer)")

    @activity.defn(name="store_investigation")
    def store_investigation(self, inp: StoreInvestigationInput) -> StoredInvestigation:
        """One Investigation row per workflow run."""
        syn = inp.synthesis
        row = Investigation(
            workflow_id=inp.workflow_id,
            account_id=inp.account_id,
            mode=inp.mode,
            question=inp.question,
            created_at=inp.created_at,
            engine=syn.engine,
            claims=[c.model_dump(mode="json") for c in syn.claims],
            evidence_ids=inp.evidence_ids,
            dropped=[d.model_dump(mode="json") for d in syn.dropped],
            answer_note=syn.answer_note,
        )
        return StoredInvestigation(
            investigation_id=_insert_once(self._engine, row), workflow_id=inp.workflow_id
        )

    @activity.defn(name="store_qbr_narrative")
    def store_qbr_narrative(self, inp: StoreQbrInput) -> StoredQbr:
        """The account's QBR narrative for the quarter, as the human decided it."""
        row = QbrNarrative(**inp.model_dump())
        return StoredQbr(qbr_id=_insert_once(self._engine, row), workflow_id=inp.workflow_id)
