"""Parsers for what customers export from their help desk: help-centre articles
(a folder of Markdown with front matter, read by `python-frontmatter`, or the
Zendesk Help Center articles JSON, whose HTML bodies `beautifulsoup4` turns into
text) and tickets (any CSV, with a column map, or the Zendesk ticket export with
its comments).

Each parser yields one `Parsed` per row: the record, or the line and the reason
it was refused. Good rows are never dropped because of a bad one.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

TICKET_FIELDS = (
    "id", "subject", "body", "answer", "status", "priority", "tags", "language", "created_at",
    "account",
)  # fmt: skip
TICKET_FORMATS = ("csv", "zendesk-json")
T = TypeVar("T")
PRIORITIES = {
    "low": "low",
    "normal": "normal",
    "medium": "normal",
    "high": "high",
    "urgent": "urgent",
}


class ImportFileError(Exception):
    """The file as a whole cannot be read (missing, wrong format, bad map)."""


@dataclass
class ArticleRecord:
    id: str
    title: str
    locale: str
    body: str
    url: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class TicketRecord:
    id: str
    subject: str
    body: str
    answer: str | None = None
    status: str = "solved"
    priority: str | None = None
    tags: list[str] = field(default_factory=list)
    language: str | None = None
    created_at: datetime | None = None
    account: str | None = None


@dataclass
class Parsed(Generic[T]):
    line: int  # the line (CSV, JSON lines) or item number (JSON array) it came from
    where: str  # the file it came from
    record: T | None = None
    problem: str | None = None


def html_to_text(markup: str) -> str:
    # Imported here, as frontmatter below: `csops ticket` reads PRIORITIES from this
    # module, and BeautifulSoup alone costs it a tenth of a second.
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for item in soup.find_all("li"):
        item.insert_before("\n- ")
    return "\n\n".join(p.strip() for p in soup.get_text("\n").split("\n\n") if p.strip())


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t for t in str(value or "").replace(",", " ").split() if t]


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _priority(value: Any) -> str | None:
    if not value:
        return None
    key = str(value).strip().lower()
    if key not in PRIORITIES:
        raise ValueError(f"priority {value!r} is not one of {', '.join(sorted(PRIORITIES))}")
    return PRIORITIES[key]


# ------------------------------------------------------------------ articles


def parse_articles(path: Path) -> Iterator[Parsed[ArticleRecord]]:
    """A folder of Markdown files (recursively) or a Zendesk articles JSON export."""
    if path.is_dir():
        files = sorted(path.rglob("*.md"))
        if not files:
            raise ImportFileError(f"{path} holds no .md files")
        for n, file in enumerate(files, 1):
            yield _markdown_article(n, file)
    elif path.suffix.lower() == ".json":
        yield from _zendesk_articles(path)
    else:
        raise ImportFileError(f"{path} is neither a folder of Markdown files nor a .json export")


def _markdown_article(n: int, file: Path) -> Parsed[ArticleRecord]:
    import frontmatter

    where = str(file)
    try:
        post = frontmatter.loads(file.read_text(encoding="utf-8"))
    except Exception as err:  # noqa: BLE001 (any parse failure refuses this file only)
        return Parsed(n, where, problem=f"front matter does not parse: {err}")
    missing = [k for k in ("id", "title", "locale") if not post.get(k)]
    if missing:
        return Parsed(n, where, problem=f"front matter lacks {', '.join(missing)}")
    if not post.content.strip():
        return Parsed(n, where, problem="the article has no body")
    return Parsed(n, where, ArticleRecord(
        id=str(post["id"]), title=str(post["title"]), locale=str(post["locale"]).lower()[:2],
        body=post.content.strip(), url=str(post["url"]) if post.get("url") else None,
        tags=_tags(post.get("tags")),
    ))  # fmt: skip


def _zendesk_articles(path: Path) -> Iterator[Parsed[ArticleRecord]]:
    where = str(path)
    for n, item in _json_items(path, "articles"):
        try:
            body = html_to_text(item.get("body") or "")
            if not (item.get("id") and item.get("title") and body):
                raise ValueError("an article needs id, title and body")
            record = ArticleRecord(
                id=str(item["id"]), title=str(item["title"]),
                locale=str(item.get("locale") or "en").lower()[:2], body=body,
                url=item.get("html_url"), tags=_tags(item.get("label_names")),
            )  # fmt: skip
        except (ValueError, TypeError, AttributeError) as err:
            yield Parsed(n, where, problem=str(err))
            continue
        yield Parsed(n, where, record)


# ------------------------------------------------------------------ tickets


def parse_field_map(pairs: list[str]) -> dict[str, str]:
    """`["subject=Subject", "body=Description"]` -> {"subject": "Subject", ...}."""
    mapping = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep or not column:
            raise ImportFileError(f"--map {pair!r} is not field=Column")
        if name not in TICKET_FIELDS:
            raise ImportFileError(
                f"--map names unknown field {name!r}; fields: {', '.join(TICKET_FIELDS)}"
            )
        mapping[name] = column
    return mapping


def parse_tickets(
    path: Path, fmt: str, mapping: dict[str, str] | None = None
) -> Iterator[Parsed[TicketRecord]]:
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file")
    if fmt == "csv":
        yield from _csv_tickets(path, mapping or {})
    elif fmt == "zendesk-json":
        yield from _zendesk_tickets(path)
    else:
        raise ImportFileError(f"unknown format {fmt!r}; use {' or '.join(TICKET_FORMATS)}")


def _ticket(values: dict[str, Any]) -> TicketRecord:
    ticket_id = str(values.get("id") or "").strip()
    if not ticket_id:
        raise ValueError("no id")
    subject = str(values.get("subject") or "").strip()
    body = str(values.get("body") or "").strip()
    if not (subject or body):
        raise ValueError("neither subject nor body")
    return TicketRecord(
        id=ticket_id, subject=subject, body=body,
        answer=str(values.get("answer") or "").strip() or None,
        status=str(values.get("status") or "solved").strip().lower(),
        priority=_priority(values.get("priority")), tags=_tags(values.get("tags")),
        language=str(values.get("language") or "").strip().lower() or None,
        created_at=_when(values.get("created_at")),
        account=str(values.get("account") or "").strip() or None,
    )  # fmt: skip


def _csv_tickets(path: Path, mapping: dict[str, str]) -> Iterator[Parsed[TicketRecord]]:
    where = str(path)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        columns = {name: mapping.get(name, name) for name in TICKET_FIELDS}
        absent = [c for name, c in columns.items() if name in mapping and c not in header]
        if absent:
            raise ImportFileError(
                f"{path} has no column {', '.join(map(repr, absent))} (columns: {', '.join(header)})"
            )
        if columns["id"] not in header or not {columns["subject"], columns["body"]} & set(header):
            raise ImportFileError(
                f"{path} needs an id and a subject or body column; map yours with "
                "--map id=Column --map subject=Column --map body=Column"
            )
        for row in reader:
            line = reader.line_num
            try:
                record = _ticket({name: row.get(column) for name, column in columns.items()})
            except ValueError as err:
                yield Parsed(line, where, problem=str(err))
                continue
            yield Parsed(line, where, record)


def _zendesk_tickets(path: Path) -> Iterator[Parsed[TicketRecord]]:
    """Zendesk's ticket export (a JSON array, `{"tickets": [...]}` or JSON lines),
    each ticket with its `comments`: the first public comment after the description
    by someone other than the requester is the answer."""
    where = str(path)
    for n, item in _json_items(path, "tickets"):
        try:
            comments = [c for c in item.get("comments") or [] if c.get("public", True)]
            requester = item.get("requester_id")
            answer = next(
                (
                    c.get("plain_body") or c.get("body")
                    for c in comments[1:]
                    if c.get("author_id") != requester
                ),
                None,
            )
            record = _ticket({
                "id": item.get("id"), "subject": item.get("subject") or item.get("raw_subject"),
                "body": item.get("description") or (comments[0].get("body") if comments else ""),
                "answer": answer, "status": item.get("status"), "priority": item.get("priority"),
                "tags": item.get("tags"), "language": item.get("locale"),
                "created_at": item.get("created_at"),
                "account": item.get("organization_id") or item.get("external_id"),
            })  # fmt: skip
        except (ValueError, TypeError, AttributeError) as err:
            yield Parsed(n, where, problem=str(err))
            continue
        yield Parsed(n, where, record)


def _json_items(path: Path, key: str) -> Iterator[tuple[int, dict]]:
    """(line or item number, object) from a JSON array, `{key: [...]}` or JSON lines."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if data is None:  # JSON lines: one object per line
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise ImportFileError(f"{path}:{n} is not JSON ({err.msg})") from None
            yield n, obj
        return
    items = data.get(key) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ImportFileError(f"{path} holds no list of {key}")
    for n, obj in enumerate(items, 1):
        yield n, obj if isinstance(obj, dict) else {}
