"""`csops import`: customers' data into the context database. Help-centre
articles and past tickets, then the retrieval index brought up to date for the
languages that changed; CRM accounts and contacts, product usage aggregated per
account, day and feature, call transcripts, NPS responses and CRM notes. Every
row is keyed by what identifies it in the source, so importing the same file
twice changes nothing."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from adapters.importers import (
    ArticleRecord,
    Parsed,
    TicketRecord,
    parse_accounts,
    parse_articles,
    parse_contacts,
    parse_notes,
    parse_nps,
    parse_segment_events,
    parse_tickets,
    parse_transcripts,
)
from adapters.knowledge import KnowledgeBase
from adapters.reading import language
from context.db import session
from context.tables import (
    Account,
    CallTranscript,
    Contact,
    CrmNote,
    KnowledgeArticle,
    NpsResponse,
    PastTicket,
    UsageDaily,
)

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
    details: dict[str, Any] = field(default_factory=dict)  # what else the kind reports

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "imported": self.imported, "updated": self.updated,
            "unchanged": self.unchanged, "refused": self.refused, "reindexed": self.reindexed,
            "details": self.details,
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


def _same(stored: Any, new: Any) -> bool:
    # SQLite hands datetimes back without their zone: csops stores them in UTC.
    if isinstance(stored, datetime) and isinstance(new, datetime):
        return stored.replace(tzinfo=stored.tzinfo or UTC) == new
    return bool(stored == new)


def _upsert(
    s, model: type, values: dict[str, Any], key: tuple[str, ...], insert_only: Collection[str]
) -> str:
    """Insert or update the row whose `key` columns hold these values: "imported",
    "updated" or "unchanged" (same content). An update leaves `insert_only` alone:
    defaults for what the file does not say, never over what is stored."""
    if hasattr(model, "content_hash"):
        values["content_hash"] = hashlib.sha256(
            json.dumps(values, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
    if key == ("id",):
        row = s.get(model, values["id"])
    else:
        row = s.exec(select(model).where(*(getattr(model, k) == values[k] for k in key))).first()
    if row is None:
        s.add(model(**values))
        return "imported"
    values = {name: value for name, value in values.items() if name not in insert_only}
    if all(_same(getattr(row, name), value) for name, value in values.items()):
        return "unchanged"
    for name, value in values.items():
        setattr(row, name, value)
    s.add(row)
    return "updated"


def _save(
    engine: Engine,
    report: ImportReport,
    model: type,
    rows: Iterable[dict],
    key: tuple[str, ...] = ("id",),
    insert_only: Collection[str] = (),
) -> list[dict]:
    """Upsert the rows in one transaction, counted in the report; returns those that
    were new or changed."""
    changed = []
    with session(engine) as s:
        for values in rows:
            outcome = _upsert(s, model, values, key, insert_only)
            setattr(report, outcome, getattr(report, outcome) + 1)
            if outcome != "unchanged":
                changed.append(values)
        s.commit()
    return changed


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
    touched = {values[language_field] for values in _save(engine, report, model, rows)}
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


def _given(rows: Iterator[Parsed[T]]) -> tuple[Iterator[Parsed[T]], frozenset[str]]:
    """The rows, and the fields their file has columns for (read from the first)."""
    first = next(rows, None)
    if first is None:
        return rows, frozenset()
    return chain([first], rows), first.given


def _known_accounts(engine: Engine, rows: Iterable[Parsed[T]]) -> Iterator[Parsed[T]]:
    """Rows naming an account the context layer lacks are refused with their line."""
    with session(engine) as s:
        known = set(s.exec(select(Account.id)).all())
    for parsed in rows:
        account = getattr(parsed.record, "account", None)
        if parsed.record is not None and account not in known:
            yield Parsed(
                parsed.line, parsed.where, problem=f"unknown account {account!r} (import it first)"
            )
        else:
            yield parsed


def import_accounts(
    engine: Engine,
    path: Path,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """CRM accounts; afterwards every account's top-N rank is its place by ARR."""
    report = ImportReport("accounts")
    parsed, given = _given(parse_accounts(path, fmt, mapping or {}))
    rows = ({**asdict(a), "top_rank": 0} for a in _counted(parsed, report, progress))
    defaulted = {"segment", "plan", "stage", "signed_date", "manager"} - given
    _save(engine, report, Account, rows, insert_only={"top_rank", *defaulted})
    with engine.begin() as conn:
        ranked = conn.execute(
            select(Account.id).order_by(col(Account.arr).desc(), Account.id)
        ).all()
        conn.execute(
            update(Account)
            .where(col(Account.id) == bindparam("account"))
            .values(top_rank=bindparam("rank")),
            [{"account": account, "rank": n} for n, (account,) in enumerate(ranked, 1)],
        )
    return report


def import_contacts(
    engine: Engine,
    path: Path,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """CRM contacts of known accounts, keyed by account and email."""
    report = ImportReport("contacts")
    parsed, given = _given(parse_contacts(path, fmt, mapping or {}))
    parsed = _known_accounts(engine, parsed)
    rows = (
        {"account_id": c.account, "email": c.email, "name": c.name, "role": c.role,
         "is_decision_maker": c.is_decision_maker, "is_primary": c.is_primary,
         "influence": c.influence}
        for c in _counted(parsed, report, progress)
    )  # fmt: skip
    named = {"name", "first_name", "last_name"} & given
    defaulted = {"role", "influence"} - given
    defaulted |= {f"is_{flag}" for flag in ("decision_maker", "primary") if flag not in given}
    _save(engine, report, Contact, rows, ("account_id", "email"), defaulted | {"name"} - named)
    return report


def import_usage(
    engine: Engine, path: Path, events: dict[str, str], progress: Progress | None = None
) -> ImportReport:
    """Segment track events aggregated per account and UTC day: active_users is the
    number of distinct users, each mapped feature the number of its events. A day in
    the file replaces that day's stored values (a re-import changes nothing)."""
    report = ImportReport("usage")
    users: dict[tuple[str, date], set[str]] = defaultdict(set)
    counts: Counter[tuple[str, date, str]] = Counter()
    unmapped: Counter[str] = Counter()
    for e in _counted(_known_accounts(engine, parse_segment_events(path)), report, progress):
        users[e.account, e.day].add(e.user)
        if e.event in events:
            counts[e.account, e.day, events[e.event]] += 1
        else:
            unmapped[e.event] += 1
    daily = {(a, d, "active_users"): len(u) for (a, d), u in users.items()} | counts
    rows = (
        {"account_id": a, "day": d, "feature": f, "value": float(v)}
        for (a, d, f), v in sorted(daily.items())
    )
    _save(engine, report, UsageDaily, rows, ("account_id", "day", "feature"))
    report.details = {
        "events": sum(counts.values()) + sum(unmapped.values()),
        "unmapped_events": dict(unmapped.most_common()),
    }
    return report


def _account_events(
    kind: str,
    engine: Engine,
    parsed: Iterable[Parsed[Any]],
    model: type,
    key: tuple[str, ...],
    progress: Progress | None,
) -> ImportReport:
    """Notes, NPS responses and calls: rows of known accounts, keyed by `key`."""
    report = ImportReport(kind)
    rows = (
        {"account_id": r.pop("account"), **r}
        for r in (asdict(x) for x in _counted(_known_accounts(engine, parsed), report, progress))
    )
    _save(engine, report, model, rows, key)
    return report


def import_transcripts(
    engine: Engine, path: Path, progress: Progress | None = None
) -> ImportReport:
    return _account_events(
        "transcripts",
        engine,
        parse_transcripts(path),
        CallTranscript,
        ("account_id", "at", "title"),
        progress,
    )


def import_notes(
    engine: Engine,
    path: Path,
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    return _account_events(
        "notes",
        engine,
        parse_notes(path, mapping or {}),
        CrmNote,
        ("account_id", "at", "author"),
        progress,
    )


def import_nps(
    engine: Engine,
    path: Path,
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    parsed = parse_nps(path, mapping or {})
    return _account_events(
        "nps", engine, parsed, NpsResponse, ("account_id", "at", "contact_email"), progress
    )


DEMO_HELP_CENTRE = Path(__file__).with_name("demo_help_centre")


def import_demo_knowledge(engine: Engine, kb: KnowledgeBase) -> list[ImportReport]:
    """The demo product's help centre and solved-ticket history (`csops up`, tests)."""
    return [
        import_articles(engine, kb, DEMO_HELP_CENTRE / "articles"),
        import_tickets(engine, kb, DEMO_HELP_CENTRE / "solved_tickets.csv", "csv"),
    ]
