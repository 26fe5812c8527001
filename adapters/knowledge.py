"""The knowledge base: articles and solved tickets in the context database, the
retrieval index beside it, and the search the agent answers from.

A search gives candidates with how well each covers the question; whether that
is good enough to answer alone is the caller's call (the grounding policy).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from adapters.knowledge_index import KnowledgeIndex, terms
from adapters.reading.language import HANDLED
from context.db import session
from context.tables import KnowledgeArticle, PastTicket
from contracts.knowledge import SourceRef

FALLBACK_LANGUAGE = "en"
SOLVED_STATUSES = ("solved", "closed")


# Past tickets that count as knowledge: solved, with the answer that solved them.
_ANSWERED = (col(PastTicket.answer).is_not(None), col(PastTicket.status).in_(SOLVED_STATUSES))


@dataclass(frozen=True)
class Candidate:
    """A source that may answer the question, and the text a reply would quote."""

    ref: SourceRef
    answer: str


def article_source_id(article_id: str) -> str:
    return f"article:{article_id}"


def ticket_source_id(ticket_id: str) -> str:
    return f"ticket:{ticket_id}"


def article_answer(body: str) -> str:
    """What a reply quotes of an article: its body up to the first note after the
    steps (the answer paragraph and the steps)."""
    blocks = [b.strip() for b in body.strip().split("\n\n") if b.strip()]
    kept: list[str] = []
    for block in blocks:
        kept.append(block)
        if block[:2].rstrip(".").isdigit() or block.startswith(("1.", "- ", "* ")):
            break  # the steps: the answer is complete
    return "\n\n".join(kept)


class KnowledgeBase:
    def __init__(self, engine: Engine, index_folder: Path) -> None:
        self._engine = engine
        self.index = KnowledgeIndex(index_folder)

    # ------------------------------------------------------------------ index

    def _documents(self, language: str) -> list[tuple[str, str]]:
        with session(self._engine) as s:
            articles = s.exec(
                select(KnowledgeArticle).where(KnowledgeArticle.locale == language)
            ).all()
            solved = s.exec(
                select(PastTicket).where(*_ANSWERED, PastTicket.language == language)
            ).all()
        docs = [
            (article_source_id(a.id), f"{a.title}\n{' '.join(a.tags or [])}\n{a.body}")
            for a in articles
        ]
        docs += [(ticket_source_id(t.id), f"{t.subject}\n{t.body}\n{t.answer}") for t in solved]
        return docs

    def refresh(self, languages: Iterable[str]) -> list[str]:
        """Rebuild the shards of these languages whose documents changed; the
        languages rebuilt."""
        handled = sorted(set(languages) & set(HANDLED))  # an unread language has no stemmer
        return [lang for lang in handled if self.index.rebuild(lang, self._documents(lang))]

    def unindexed_languages(self) -> set[str]:
        """Languages the database has knowledge in but the index has no shard for."""
        return self.stored_languages() - set(self.index.languages())

    def stored_languages(self) -> set[str]:
        with session(self._engine) as s:
            locales = set(s.exec(select(KnowledgeArticle.locale).distinct()).all())
            answered = set(s.exec(select(PastTicket.language).where(*_ANSWERED).distinct()).all())
        return locales | answered

    # ------------------------------------------------------------------ search

    def find(self, question: str, language: str, k: int = 5) -> list[Candidate]:
        """Candidates in the customer's language first; English ones when that
        language has none (a human may translate them, the agent may not send them)."""
        found = self._find_in(question, language, k)
        if not found and language != FALLBACK_LANGUAGE:
            found = self._find_in(question, FALLBACK_LANGUAGE, k)
        return found

    def _stored(self, source_ids: list[str]) -> dict[str, KnowledgeArticle | PastTicket]:
        """The rows behind the hits, one query per kind (a `get` per hit cost ~0.4 ms
        each: the largest share of a search, see bench/RESULTS.md)."""
        keys: dict[str, list[str]] = {"article": [], "ticket": []}
        for source_id in source_ids:
            kind, _, key = source_id.partition(":")
            keys.setdefault(kind, []).append(key)
        rows: dict[str, KnowledgeArticle | PastTicket] = {}
        with session(self._engine) as s:
            if keys["article"]:
                for a in s.exec(
                    select(KnowledgeArticle).where(col(KnowledgeArticle.id).in_(keys["article"]))
                ):
                    rows[f"article:{a.id}"] = a
            if keys["ticket"]:
                for t in s.exec(select(PastTicket).where(col(PastTicket.id).in_(keys["ticket"]))):
                    rows[f"ticket:{t.id}"] = t
        return rows

    def _find_in(self, question: str, language: str, k: int) -> list[Candidate]:
        """The hits as candidates, each with how far it says what the best one says."""
        hits = self.index.search(question, language, k)
        stored = self._stored([h.source_id for h in hits])
        found = [
            c for h in hits if (c := _candidate(stored.get(h.source_id), h.source_id, h.score))
        ]
        best: set[str] = set()
        agreeing = []
        for c in found:
            have = set(terms(f"{c.ref.title}\n{c.answer}", language))
            best = best or have
            agreement = len(best & have) / len(best | have) if have else 0.0
            ref = c.ref.model_copy(update={"agreement": round(agreement, 2)})
            agreeing.append(Candidate(ref, c.answer))
        return agreeing


def _candidate(
    row: KnowledgeArticle | PastTicket | None, source_id: str, score: float
) -> Candidate | None:
    """The stored source behind a hit; None when it was deleted since the index was
    built (or a past ticket has no answer)."""
    if isinstance(row, KnowledgeArticle):
        ref = SourceRef(source_id=source_id, kind="article", title=row.title, url=row.url,
                        language=row.locale, score=score)  # fmt: skip
        return Candidate(ref, article_answer(row.body))
    if row is None or not row.answer:
        return None
    ref = SourceRef(source_id=source_id, kind="ticket", title=row.subject, language=row.language,
                    score=score)  # fmt: skip
    return Candidate(ref, row.answer.strip())
