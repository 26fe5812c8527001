"""The knowledge base: articles and solved tickets in the context database, the
retrieval index beside it, and the search the agent answers from.

A search gives candidates with how well each covers the question; whether that
is good enough to answer alone is the caller's call (the grounding policy).
"""

from __future__ import annotations

import hashlib
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
# Words of greeting and thanks carry no question: they do not count against coverage.
_CHATTER = set(
    "hi hello hey dear team thanks thank please regards cheers best kind "
    "hallo liebe lieber danke dank bitte gruss grusse freundlichen viele "
    "hola buenos buenas gracias saludos favor equipo "
    "bonjour salut merci cordialement equipe svp "
    "ola oi obrigado obrigada abracos atenciosamente equipa equipe".split()
)


def _answered():
    """Past tickets that count as knowledge: solved, with the answer that solved them."""
    return select(PastTicket).where(
        col(PastTicket.answer).is_not(None), col(PastTicket.status).in_(SOLVED_STATUSES)
    )


@dataclass(frozen=True)
class Candidate:
    """A source that may answer the question, and the text a reply would quote."""

    ref: SourceRef
    answer: str


def article_source_id(article_id: str) -> str:
    return f"article:{article_id}"


def ticket_source_id(ticket_id: str) -> str:
    return f"ticket:{ticket_id}"


def content_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


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
            solved = s.exec(_answered().where(PastTicket.language == language)).all()
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

    def stored_languages(self) -> set[str]:
        with session(self._engine) as s:
            locales = set(s.exec(select(KnowledgeArticle.locale).distinct()).all())
            answered = {t.language for t in s.exec(_answered()).all()}
        return locales | answered

    # ------------------------------------------------------------------ search

    def find(self, question: str, language: str, k: int = 5) -> list[Candidate]:
        """Candidates in the customer's language first; English ones when that
        language has none (a human may translate them, the agent may not send them)."""
        found = self._find_in(question, language, k) if language in self.index.languages() else []
        if not found and language != FALLBACK_LANGUAGE:
            found = self._find_in(question, FALLBACK_LANGUAGE, k)
        return found

    def _find_in(self, question: str, language: str, k: int) -> list[Candidate]:
        hits = self.index.search(question, language, k)
        asked = {t for t in terms(question, language) if t not in _CHATTER}
        found = []
        best: set[str] = set()
        for hit in hits:
            candidate = self._candidate(hit.source_id, hit.score)
            if candidate is None:
                continue  # deleted since the shard was built
            have = set(terms(f"{candidate.ref.title}\n{candidate.answer}", language))
            best = best or have
            coverage = len(asked & have) / len(asked) if asked else 0.0
            agreement = len(best & have) / len(best | have) if have else 0.0
            ref = candidate.ref.model_copy(
                update={"coverage": round(coverage, 2), "agreement": round(agreement, 2)}
            )
            found.append(Candidate(ref, candidate.answer))
        return found

    def _candidate(self, source_id: str, score: float) -> Candidate | None:
        kind, _, key = source_id.partition(":")
        with session(self._engine) as s:
            if kind == "article":
                a = s.get(KnowledgeArticle, key)
                if a is None:
                    return None
                ref = SourceRef(
                    source_id=source_id, kind="article", title=a.title, url=a.url,
                    language=a.locale, score=score,
                )  # fmt: skip
                return Candidate(ref, article_answer(a.body))
            t = s.get(PastTicket, key)
            if t is None or not t.answer:
                return None
            ref = SourceRef(
                source_id=source_id, kind="ticket", title=t.subject, language=t.language,
                score=score,
            )  # fmt: skip
            return Candidate(ref, t.answer.strip())
