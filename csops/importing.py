"""`csops import`: help-centre articles and past tickets into the context
database, then the retrieval index brought up to date for the languages that
changed. Importing the same file twice changes nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from adapters.importers import ArticleRecord, Parsed, TicketRecord, parse_articles, parse_tickets
from adapters.knowledge import KnowledgeBase
from adapters.reading import language
from context.db import session
from context.tables import KnowledgeArticle, PastTicket

T = TypeVar("T")
Progress = Callable[[int], None]  # called with the rows read so far


@dataclass
class ImportReport:
    kind: str
    imported: int = 0  # new rows
    updated: int = 0  # rows whose content changed
    unchanged: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)  # where, line, reason
    reindexed: list[str] = field(default_factory=list)  # languages whose index was rebuilt

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "imported": self.imported, "updated": self.updated,
            "unchanged": self.unchanged, "refused": self.refused, "reindexed": self.reindexed,
        }  # fmt: skip


def _counted(
    rows: Iterable[Parsed[T]], report: ImportReport, progress: Progress | None
) -> Iterator[T]:
    """The good records; bad rows go to the report with their line and reason."""
    for n, parsed in enumerate(rows, 1):
        if parsed.record is None:
            report.refused.append(
                {"where": parsed.where, "line": parsed.line, "reason": parsed.problem}
            )
        else:
            yield parsed.record
        if progress and n % 200 == 0:
            progress(n)


def _upsert(s, model: type, values: dict[str, Any]) -> str:
    """Insert or update one row: "imported", "updated" or "unchanged" (same content)."""
    values["content_hash"] = hashlib.sha256(
        json.dumps(values, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]
    row = s.get(model, values["id"])
    if row is None:
        s.add(model(**values))
        return "imported"
    if row.content_hash == values["content_hash"]:
        return "unchanged"
    for name, value in values.items():
        setattr(row, name, value)
    s.add(row)
    return "updated"


def _store(
    engine: Engine,
    kb: KnowledgeBase,
    report: ImportReport,
    model: type,
    rows: Iterable[dict],
    language_field: str,
) -> ImportReport:
    """Upsert the rows, then bring the index up to date for the languages that changed
    and any stored language it lacks (a lost index folder is rebuilt)."""
    touched: set[str] = set()
    with session(engine) as s:
        for values in rows:
            outcome = _upsert(s, model, values)
            setattr(report, outcome, getattr(report, outcome) + 1)
            if outcome != "unchanged":
                touched.add(values[language_field])
        s.commit()
    report.reindexed = kb.refresh(touched | kb.unindexed_languages())
    return report


def import_articles(
    engine: Engine, kb: KnowledgeBase, path: Path, progress: Progress | None = None
) -> ImportReport:
    report = ImportReport("articles")
    rows = (_article_values(a) for a in _counted(parse_articles(path), report, progress))
    return _store(engine, kb, report, KnowledgeArticle, rows, "locale")


def _article_values(a: ArticleRecord) -> dict[str, Any]:
    return {"id": a.id, "title": a.title, "locale": a.locale, "url": a.url, "tags": a.tags,
            "body": a.body}  # fmt: skip


def import_tickets(
    engine: Engine,
    kb: KnowledgeBase,
    path: Path,
    fmt: str,
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Past tickets; the solved ones with an answer become knowledge."""
    report = ImportReport("tickets")
    rows = (
        _ticket_values(t) for t in _counted(parse_tickets(path, fmt, mapping), report, progress)
    )
    return _store(engine, kb, report, PastTicket, rows, "language")


def _ticket_values(t: TicketRecord) -> dict[str, Any]:
    return {
        "id": t.id, "subject": t.subject, "body": t.body, "answer": t.answer, "status": t.status,
        "priority": t.priority, "tags": t.tags, "created_at": t.created_at, "account_id": t.account,
        "language": t.language or language.detect(f"{t.subject}\n{t.body}")[0],
    }  # fmt: skip


DEMO_HELP_CENTRE = Path(__file__).with_name("demo_help_centre")


def import_demo_knowledge(engine: Engine, kb: KnowledgeBase) -> list[ImportReport]:
    """The demo product's help centre and solved-ticket history (`csops up`, tests)."""
    return [
        import_articles(engine, kb, DEMO_HELP_CENTRE / "articles"),
        import_tickets(engine, kb, DEMO_HELP_CENTRE / "solved_tickets.csv", "csv"),
    ]
