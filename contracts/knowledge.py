"""What the agent answers from: help-centre articles and past solved tickets, as a
reply cites them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SourceKind = Literal["article", "ticket"]


class SourceRef(BaseModel):
    """One source a reply was (or could be) grounded in."""

    source_id: str  # "article:<id>" or "ticket:<id>": what a model must cite
    kind: SourceKind
    title: str
    url: str | None = None  # articles have one; past tickets are cited by id
    language: str
    score: float = 0.0  # retrieval score (BM25)
    agreement: float = 1.0  # overlap of its terms with the best source's (1: the best itself)

    def citation(self) -> str:
        """How the reply and the audit name it: the title and link, or the ticket id."""
        if self.url:
            return f"{self.title} ({self.url})"
        return f"{self.title} (ticket {self.source_id.split(':', 1)[1]})"


class Grounding(BaseModel):
    """When retrieval is confident enough for the agent to answer alone: the best
    source scores at least `min_score` (BM25) and leads its best rival by
    `min_lead` times. A rival is a source that says something else: one sharing
    `same_answer_overlap` of its terms with the best says the same thing (the
    article and the solved ticket on one topic) and does not count against it.
    Tuned from evidence with `csops shadow`."""

    min_score: float = Field(6.0, ge=0)
    min_lead: float = Field(1.2, ge=1)
    same_answer_overlap: float = Field(0.25, gt=0, le=1)

    def confident(self, candidates: list[SourceRef]) -> bool:
        if not candidates or candidates[0].score < self.min_score:
            return False
        rivals = [c.score for c in candidates[1:] if c.agreement < self.same_answer_overlap]
        return not rivals or candidates[0].score >= self.min_lead * rivals[0]
