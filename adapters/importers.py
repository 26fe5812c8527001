"""Parsers for what customers export from their systems: help-centre articles
(a folder of Markdown with front matter, read by `python-frontmatter`, or the
Zendesk Help Center articles JSON, whose HTML bodies `beautifulsoup4` turns into
text), tickets (any CSV, with a column map, or the Zendesk ticket export with
its comments), CRM accounts and contacts (HubSpot or Salesforce CSV exports, or
any CSV with a map), product-analytics events (Segment `track` JSON lines), call
transcripts (plain text or WebVTT, read by `webvtt-py`), NPS responses and CRM
notes (CSV).

Each parser yields one `Parsed` per row: the record, or the line and the reason
it was refused. Good rows are never dropped because of a bad one.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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
    # The fields its file has a column for (CSV): an update leaves the others alone.
    given: frozenset[str] = frozenset()


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


def parse_field_map(pairs: list[str], fields: tuple[str, ...] = TICKET_FIELDS) -> dict[str, str]:
    """`["subject=Subject", "body=Description"]` -> {"subject": "Subject", ...}."""
    mapping = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep or not column:
            raise ImportFileError(f"--map {pair!r} is not field=Column")
        if name not in fields:
            raise ImportFileError(
                f"--map names unknown field {name!r}; fields: {', '.join(fields)}"
            )
        mapping[name] = column
    return mapping


def parse_tickets(
    path: Path, fmt: str, mapping: dict[str, str] | None = None
) -> Iterator[Parsed[TicketRecord]]:
    if fmt == "csv":
        yield from _csv_records(
            path, TICKET_FIELDS, mapping or {}, _ticket, (("id",), ("subject", "body"))
        )
    elif fmt == "zendesk-json":
        if not path.is_file():
            raise ImportFileError(f"{path} is not a file")
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


def _csv_records(
    path: Path,
    fields: tuple[str, ...],
    mapping: dict[str, str],
    build: Callable[[dict[str, str | None]], T],
    required: tuple[tuple[str, ...], ...],
    presets: dict[str, dict[str, tuple[str, ...]]] | None = None,
    fmt: str = "csv",
) -> Iterator[Parsed[T]]:
    """Rows of a CSV as records. A field is read from the column `--map` names, else
    from the first of the preset's column names the header has (the preset `fmt`
    names, or for "auto" the one matching most columns), else from the column
    named as the field; names match in any case. `required` lists groups of fields,
    each needing a column for at least one of them; `build` raises ValueError for a
    bad row."""
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        absent = [c for c in mapping.values() if c not in header]
        if absent:
            raise ImportFileError(
                f"{path} has no column {', '.join(map(repr, absent))} (columns: {', '.join(header)})"
            )
        preset = _preset(presets or {}, fmt, list(header))
        named = {c.strip().lower(): c for c in header}  # "Segment" is the segment field
        columns = {}
        for name in fields:
            candidates = [mapping[name]] if name in mapping else [*preset.get(name, ()), name]
            column = next((named[c.lower()] for c in candidates if c.lower() in named), None)
            if column:
                columns[name] = column
        for group in required:
            if not set(group) & set(columns):
                raise ImportFileError(
                    f"{path} has no column for {' or '.join(group)} (columns: {', '.join(header)}); "
                    f"name yours with --map {group[0]}=Column"
                )
        given = frozenset(columns)
        for row in reader:
            line = reader.line_num
            try:
                record = build({name: row.get(column) for name, column in columns.items()})
            except ValueError as err:
                yield Parsed(line, str(path), problem=str(err), given=given)
                continue
            yield Parsed(line, str(path), record, given=given)


def _preset(
    presets: dict[str, dict[str, tuple[str, ...]]], fmt: str, header: list[str]
) -> dict[str, tuple[str, ...]]:
    if fmt == "auto":
        named = {c.strip().lower() for c in header}
        hits = {
            name: sum(any(c.lower() in named for c in cs) for cs in p.values())
            for name, p in presets.items()
        }
        best = max(hits, key=lambda name: hits[name], default=None)
        return presets[best] if best and hits[best] else {}
    if fmt in presets:
        return presets[fmt]
    if fmt == "csv":
        return {}
    raise ImportFileError(f"unknown format {fmt!r}; use {' or '.join(['auto', *presets, 'csv'])}")


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


# ------------------------------------------------------------------ CRM, NPS, notes

ACCOUNT_FIELDS = (
    "id", "name", "arr", "seats", "renewal_date", "owner_csm", "segment", "plan", "stage",
    "signed_date", "manager",
)  # fmt: skip
CONTACT_FIELDS = (
    "account", "email", "name", "first_name", "last_name", "role", "decision_maker", "primary",
    "influence",
)  # fmt: skip
NOTE_FIELDS = ("account", "at", "author", "text")
NPS_FIELDS = ("account", "at", "email", "score", "comment")
CRM_FORMATS = ("auto", "hubspot", "salesforce", "csv")
# Column names of the CRMs' standard exports; ARR, seats and renewal date are custom
# properties in both, so the usual names are listed and anything else is --map'ped.
CRM_COLUMNS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "accounts": {
        "hubspot": {
            "id": ("Record ID",), "name": ("Company name", "Name"),
            "arr": ("ARR", "Annual recurring revenue", "Annual Revenue"),
            "seats": ("Seats", "Licenses", "Number of seats"),
            "renewal_date": ("Renewal date", "Contract end date"),
            "owner_csm": ("Company owner email", "CSM email", "Company owner"),
            "signed_date": ("Close date", "Create Date"), "plan": ("Plan",),
            "manager": ("CSM manager email",),
        },
        "salesforce": {
            "id": ("Account ID",), "name": ("Account Name",),
            "arr": ("ARR__c", "ARR", "Annual Revenue"),
            "seats": ("Seats__c", "Licenses__c", "Seats"),
            "renewal_date": ("Renewal_Date__c", "Contract End Date", "Renewal Date"),
            "owner_csm": ("Account Owner Email", "Owner Email", "Account Owner"),
            "signed_date": ("Customer_Since__c", "Customer Since", "Created Date"),
            "plan": ("Plan__c",), "manager": ("Owner Manager Email",),
        },
    },
    "contacts": {
        "hubspot": {
            "account": ("Associated Company IDs (Primary)", "Associated Company ID",
                        "Company ID"),
            "email": ("Email",), "first_name": ("First Name",), "last_name": ("Last Name",),
            "role": ("Job Title",), "decision_maker": ("Decision maker",),
        },
        "salesforce": {
            "account": ("Account ID",), "email": ("Email",), "first_name": ("First Name",),
            "last_name": ("Last Name",), "role": ("Title",),
            "decision_maker": ("Decision_Maker__c",), "primary": ("Primary_Contact__c",),
        },
    },
}  # fmt: skip
# ARR bands of the segments (the demo book's, and the policies' $50K line).
SEGMENT_FLOORS = ((200_000.0, "enterprise"), (50_000.0, "mid_market"), (0.0, "smb"))
PLAN_OF_SEGMENT = {"smb": "team", "mid_market": "business", "enterprise": "enterprise"}
STAGES = ("new", "onboarding", "adopting", "renewing", "at_risk")


@dataclass
class AccountRecord:
    id: str
    name: str
    arr: float
    segment: str
    plan: str
    seats: int
    stage: str
    signed_date: date
    renewal_date: date
    owner_csm: str
    manager: str


@dataclass
class ContactRecord:
    account: str
    name: str
    email: str
    role: str
    is_decision_maker: bool
    is_primary: bool
    influence: str


@dataclass
class NoteRecord:
    account: str
    at: datetime
    author: str
    text: str


@dataclass
class NpsRecord:
    account: str
    at: datetime
    contact_email: str
    score: int
    comment: str


def _text(values: dict[str, Any], name: str) -> str:
    return str(values.get(name) or "").strip()


def _needed(values: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if not _text(values, n)]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")


def _moment(value: Any) -> datetime:
    """A date or time as CRMs write them (ISO, `1/31/2026 10:00`, `Jan 31, 2026`); UTC
    when no zone is given, month first as US exports write it."""
    from dateutil import parser

    try:
        # ISO first: event files hold millions of ISO timestamps, dateutil is ~20x slower.
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        try:
            parsed = parser.parse(str(value))
        except (ValueError, OverflowError):
            raise ValueError(f"{value!r} is not a date") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(value: Any, what: str) -> float:
    try:
        return float(str(value).replace("$", "").replace(",", "").strip())
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number") from None


def _email(value: str, what: str) -> str:
    if "@" not in value:
        raise ValueError(f"{what} {value!r} is not an email address")
    return value.lower()


def _flag(value: Any) -> bool:
    return str(value or "").strip().lower() in {"true", "yes", "y", "1", "x"}


def _account(values: dict[str, Any]) -> AccountRecord:
    _needed(values, "id", "name", "arr", "seats", "renewal_date", "owner_csm")
    arr = _number(values["arr"], "ARR")
    seats = _number(values["seats"], "seats")
    if arr < 0 or seats < 0 or seats != int(seats):
        raise ValueError("ARR and seats must be positive (seats whole)")
    segment = _text(values, "segment").lower().replace("-", "_").replace(" ", "_")
    segment = segment or next(name for floor, name in SEGMENT_FLOORS if arr >= floor)
    if segment not in PLAN_OF_SEGMENT:
        raise ValueError(f"segment {segment!r} is not one of {', '.join(PLAN_OF_SEGMENT)}")
    stage = _text(values, "stage").lower() or "adopting"
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    renewal = _moment(values["renewal_date"]).date()
    signed = values.get("signed_date")
    owner = _email(_text(values, "owner_csm"), "owner")
    return AccountRecord(
        id=_text(values, "id"), name=_text(values, "name"), arr=arr, segment=segment,
        plan=_text(values, "plan").lower() or PLAN_OF_SEGMENT[segment], seats=int(seats),
        stage=stage, renewal_date=renewal,
        signed_date=_moment(signed).date() if signed else renewal.replace(year=renewal.year - 1),
        owner_csm=owner,
        manager=_email(_text(values, "manager"), "manager") if values.get("manager") else owner,
    )  # fmt: skip


def _contact(values: dict[str, Any]) -> ContactRecord:
    _needed(values, "account", "email")
    name = _text(values, "name") or f"{_text(values, 'first_name')} {_text(values, 'last_name')}"
    influence = _text(values, "influence").lower() or "medium"
    if influence not in ("low", "medium", "high"):
        raise ValueError(f"influence {influence!r} is not one of low, medium, high")
    # HubSpot lists every associated company id separated by ";": the first is primary.
    return ContactRecord(
        account=_text(values, "account").split(";")[0].strip(),
        name=name.strip() or _text(values, "email"), email=_email(_text(values, "email"), "email"),
        role=_text(values, "role"), is_decision_maker=_flag(values.get("decision_maker")),
        is_primary=_flag(values.get("primary")), influence=influence,
    )  # fmt: skip


def _note(values: dict[str, Any]) -> NoteRecord:
    _needed(values, "account", "at", "author", "text")
    return NoteRecord(_text(values, "account"), _moment(values["at"]), _text(values, "author"),
                      _text(values, "text"))  # fmt: skip


def _nps(values: dict[str, Any]) -> NpsRecord:
    _needed(values, "account", "at", "email", "score")
    score = _number(values["score"], "score")
    if score not in range(11):
        raise ValueError(f"score {values['score']!r} is not a whole number from 0 to 10")
    return NpsRecord(
        _text(values, "account"), _moment(values["at"]), _email(_text(values, "email"), "email"),
        int(score), _text(values, "comment"),
    )  # fmt: skip


def parse_accounts(
    path: Path, fmt: str, mapping: dict[str, str]
) -> Iterator[Parsed[AccountRecord]]:
    """A CRM's companies (HubSpot) or accounts (Salesforce) export, or any CSV."""
    required = tuple((f,) for f in ACCOUNT_FIELDS[:6])
    return _csv_records(
        path, ACCOUNT_FIELDS, mapping, _account, required, CRM_COLUMNS["accounts"], fmt
    )


def parse_contacts(
    path: Path, fmt: str, mapping: dict[str, str]
) -> Iterator[Parsed[ContactRecord]]:
    required = (("account",), ("email",))
    return _csv_records(
        path, CONTACT_FIELDS, mapping, _contact, required, CRM_COLUMNS["contacts"], fmt
    )


def parse_notes(path: Path, mapping: dict[str, str]) -> Iterator[Parsed[NoteRecord]]:
    return _csv_records(path, NOTE_FIELDS, mapping, _note, tuple((f,) for f in NOTE_FIELDS))


def parse_nps(path: Path, mapping: dict[str, str]) -> Iterator[Parsed[NpsRecord]]:
    return _csv_records(path, NPS_FIELDS, mapping, _nps, tuple((f,) for f in NPS_FIELDS[:4]))


# ------------------------------------------------------------------ product usage

USAGE_FEATURES = ("active_users", "agent_resolutions", "api_calls", "integrations", "reports")
# Segment event names -> csops usage features; `--map "Event Name=feature"` adds or
# overrides. Every event's user counts towards the day's active users.
DEFAULT_EVENT_FEATURES = {
    "Agent Resolution": "agent_resolutions",
    "Ticket Resolved By Agent": "agent_resolutions",
    "API Call": "api_calls",
    "API Request": "api_calls",
    "Integration Connected": "integrations",
    "Integration Synced": "integrations",
    "Report Created": "reports",
    "Report Viewed": "reports",
}


@dataclass
class UsageEvent:
    account: str
    day: date
    user: str
    event: str


def parse_event_map(pairs: list[str]) -> dict[str, str]:
    """`["Dashboard Built=reports"]` -> the default event map with it added."""
    events = dict(DEFAULT_EVENT_FEATURES)
    for pair in pairs:
        event, sep, feature = pair.rpartition("=")
        if not sep or not event:
            raise ImportFileError(f"--map {pair!r} is not Event Name=feature")
        if feature not in USAGE_FEATURES[1:]:
            raise ImportFileError(
                f"--map {pair!r} names unknown feature {feature!r}; features: "
                f"{', '.join(USAGE_FEATURES[1:])}"
            )
        events[event] = feature
    return events


def parse_segment_events(path: Path) -> Iterator[Parsed[UsageEvent]]:
    """Segment `track` calls as JSON lines; the account is `context.groupId` (Segment's
    B2B convention) or `properties.account_id`."""
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file")
    where = str(path)
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Parsed(n, where, _segment_event(json.loads(line)))
            except json.JSONDecodeError as err:
                yield Parsed(n, where, problem=f"not JSON ({err.msg})")
            except (ValueError, TypeError, AttributeError) as err:
                yield Parsed(n, where, problem=str(err))


def _segment_event(event: Any) -> UsageEvent:
    if not isinstance(event, dict) or event.get("type") != "track":
        raise ValueError("not a Segment track event")
    context, properties = event.get("context") or {}, event.get("properties") or {}
    account = context.get("groupId") or properties.get("account_id")
    user = event.get("userId") or event.get("anonymousId")
    missing = [
        name
        for name, value in (("event", event.get("event")), ("timestamp", event.get("timestamp")),
                            ("userId", user), ("context.groupId", account))
        if not value
    ]  # fmt: skip
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    return UsageEvent(str(account), _moment(event["timestamp"]).date(), str(user), event["event"])


# ------------------------------------------------------------------ call transcripts


@dataclass
class TranscriptRecord:
    account: str
    at: datetime
    title: str
    participants: str
    text: str


def parse_transcripts(path: Path) -> Iterator[Parsed[TranscriptRecord]]:
    """One call per file (.txt or .vtt), a file or a folder of them. The account, date,
    title and participants come from `Key: value` lines: a plain-text file's first
    lines up to a blank one, a WebVTT file's NOTE block. The speakers (`Name: ...`
    lines, WebVTT `<v Name>` voices) are the participants when none are listed."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".txt", ".vtt"))
        if not files:
            raise ImportFileError(f"{path} holds no .txt or .vtt files")
    elif path.is_file():
        files = [path]
    else:
        raise ImportFileError(f"{path} is neither a file nor a folder")
    for file in files:
        try:
            yield Parsed(1, str(file), _transcript(file))
        except ValueError as err:
            yield Parsed(1, str(file), problem=str(err))


def _transcript(file: Path) -> TranscriptRecord:
    content = file.read_text(encoding="utf-8-sig")
    if file.suffix.lower() == ".vtt":
        import webvtt
        from webvtt.errors import MalformedFileError

        try:
            vtt = webvtt.from_string(content)
        except MalformedFileError as err:
            raise ValueError(f"not WebVTT ({err})") from None
        meta = _key_values("\n".join(vtt.header_comments).splitlines())
        lines = [(c.voice or "", " ".join(c.text.split())) for c in vtt.captions]
    else:
        head, _, body = content.partition("\n\n")
        meta = _key_values(head.splitlines())
        lines = [_speaker(line) for line in body.splitlines() if line.strip()]
    _needed(meta, "account", "date")
    speakers = list(dict.fromkeys(who for who, _ in lines if who))
    text = "\n".join(f"{who}: {said}" if who else said for who, said in lines)
    if not text:
        raise ValueError("the transcript is empty")
    return TranscriptRecord(
        account=meta["account"], at=_moment(meta["date"]), title=meta.get("title") or file.stem,
        participants=meta.get("participants") or ", ".join(speakers), text=text,
    )  # fmt: skip


def _key_values(lines: list[str]) -> dict[str, str]:
    pairs = (line.partition(":") for line in lines)
    return {k.strip().lower(): v.strip() for k, sep, v in pairs if sep and k.strip()}


def _speaker(line: str) -> tuple[str, str]:
    who, sep, said = line.partition(":")
    # "Name: text" names a speaker; a colon later in a sentence does not.
    if sep and 0 < len(who.split()) <= 4 and said.strip():
        return who.strip(), said.strip()
    return "", line.strip()
