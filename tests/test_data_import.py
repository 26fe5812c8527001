"""`csops import` of customers' data: CRM accounts and contacts (HubSpot and
Salesforce exports), Segment usage events, call transcripts, NPS and notes. Each on
its sample file under examples/import and on a file with broken rows: exact counts,
refused rows with their line and reason, a re-import that changes nothing, and the
stored values against the test's own reading of the file. On SQLite and on the
run's PostgreSQL server."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.importers import DEFAULT_EVENT_FEATURES, ImportFileError
from context.db import make_engine
from csops.importing import (
    import_accounts,
    import_contacts,
    import_notes,
    import_nps,
    import_transcripts,
    import_usage,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "import"
HUBSPOT = EXAMPLES / "hubspot_companies.csv"
SALESFORCE = EXAMPLES / "salesforce_accounts.csv"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """An empty context database of this test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'import.db'}"
    else:
        url = request.getfixturevalue("postgres").new_database()
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def book(engine):
    """The context database with both sample CRM account exports imported."""
    import_accounts(engine, HUBSPOT)
    import_accounts(engine, SALESFORCE)
    return engine


def rows(engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def money(value: str) -> float:
    return float(value.replace("$", "").replace(",", ""))


def utc(value: datetime | str) -> datetime:
    """A stored timestamp in UTC (SQLite keeps none, and text() reads it as a string)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def counts(report) -> tuple[int, int, int, list[int]]:
    return report.imported, report.updated, report.unchanged, [r["line"] for r in report.refused]


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


# ------------------------------------------------------------------ accounts


def test_hubspot_and_salesforce_accounts_are_recognised_and_ranked_by_arr(engine):
    hubspot, salesforce = csv_rows(HUBSPOT), csv_rows(SALESFORCE)
    assert counts(import_accounts(engine, HUBSPOT)) == (len(hubspot), 0, 0, [])
    assert counts(import_accounts(engine, SALESFORCE)) == (len(salesforce), 0, 0, [])

    expected = {
        r["Record ID"]: (r["Company name"], money(r["ARR"]), int(r["Seats"]),
                         date.fromisoformat(r["Renewal date"]), r["Company owner email"])
        for r in hubspot
    } | {
        r["Account ID"]: (r["Account Name"], money(r["ARR__c"]), int(r["Seats__c"]),
                          datetime.strptime(r["Renewal_Date__c"], "%m/%d/%Y").date(),
                          r["Account Owner Email"])
        for r in salesforce
    }  # fmt: skip
    stored = rows(engine, "SELECT id, name, arr, seats, renewal_date, owner_csm FROM account")
    assert {r[0]: (r[1], r[2], r[3], _day(r[4]), r[5]) for r in stored} == expected
    by_arr = sorted(expected, key=lambda a: (-expected[a][1], a))
    ranks = dict(rows(engine, "SELECT id, top_rank FROM account"))
    assert [ranks[a] for a in by_arr] == list(range(1, len(by_arr) + 1))
    # The segment follows the ARR bands when the export has none.
    segments = dict(rows(engine, "SELECT id, segment FROM account"))
    assert {a: segments[a] for a in expected} == {
        a: "enterprise" if arr >= 200_000 else "mid_market" if arr >= 50_000 else "smb"
        for a, (_, arr, *_rest) in expected.items()
    }

    before = rows(engine, "SELECT * FROM account ORDER BY id")
    assert counts(import_accounts(engine, HUBSPOT)) == (0, 0, len(hubspot), [])
    assert rows(engine, "SELECT * FROM account ORDER BY id") == before


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def test_broken_account_rows_are_refused_with_line_and_reason_and_a_change_updates(
    engine, tmp_path
):
    export = write(
        tmp_path / "accounts.csv",
        "Record ID,Company name,ARR,Seats,Renewal date,Company owner email,Segment\n"
        'A-1,Good One,"$60,000",40,2027-02-01,jane@csops.example,\n'  # line 2
        "A-2,No Renewal,10000,5,,jane@csops.example,\n"  # line 3
        "A-3,Bad ARR,lots,5,2027-02-01,jane@csops.example,\n"  # line 4
        "A-4,Owner Name,10000,5,2027-02-01,Jane Smith,\n"  # line 5
        "A-5,Odd Segment,10000,5,2027-02-01,jane@csops.example,galactic\n"  # line 6
        "A-6,Bad Date,10000,5,someday,jane@csops.example,\n"  # line 7
        "A-7,Good Two,9000,3,01/15/2027,sam@csops.example,smb\n",  # line 8
    )
    report = import_accounts(engine, export)
    assert counts(report) == (2, 0, 0, [3, 4, 5, 6, 7])
    assert [r["reason"] for r in report.refused] == [
        "no renewal_date",
        "ARR 'lots' is not a number",
        "owner 'Jane Smith' is not an email address",
        "segment 'galactic' is not one of smb, mid_market, enterprise",
        "'someday' is not a date",
    ]
    assert {r["where"] for r in report.refused} == {str(export)}
    assert rows(engine, "SELECT id, segment FROM account ORDER BY id") == [
        ("A-1", "mid_market"),
        ("A-7", "smb"),
    ]

    # A stage csops set since (an onboarding's review) survives a file without one.
    with engine.begin() as conn:
        conn.execute(text("UPDATE account SET stage = 'at_risk' WHERE id = 'A-1'"))
    write(export, export.read_text().replace('"$60,000"', '"$65,000"'))
    assert counts(import_accounts(engine, export))[:3] == (0, 1, 1)
    assert rows(engine, "SELECT arr, stage FROM account WHERE id = 'A-1'") == [
        (65_000.0, "at_risk")
    ]
    staged = write(
        tmp_path / "staged.csv",
        "id,name,arr,seats,renewal_date,owner_csm,stage\n"
        "A-1,Good One,65000,40,2027-02-01,jane@csops.example,renewing\n",
    )
    assert counts(import_accounts(engine, staged, "csv")) == (0, 1, 0, [])
    assert rows(engine, "SELECT stage FROM account WHERE id = 'A-1'") == [("renewing",)]


def test_a_csv_without_the_needed_columns_is_one_clear_error(engine, tmp_path):
    export = write(tmp_path / "accounts.csv", "Name,Revenue\nx,1\n")
    with pytest.raises(ImportFileError, match="has no column for id .* --map id=Column"):
        import_accounts(engine, export, "auto")
    with pytest.raises(ImportFileError, match="unknown format 'zoho'"):
        import_accounts(engine, HUBSPOT, "zoho")


# ------------------------------------------------------------------ contacts


def test_contacts_of_both_crms_and_a_mapped_csv(book, tmp_path):
    hubspot = csv_rows(EXAMPLES / "hubspot_contacts.csv")
    salesforce = csv_rows(EXAMPLES / "salesforce_contacts.csv")
    assert counts(import_contacts(book, EXAMPLES / "hubspot_contacts.csv")) == (
        len(hubspot), 0, 0, [],
    )  # fmt: skip
    assert counts(import_contacts(book, EXAMPLES / "salesforce_contacts.csv")) == (
        len(salesforce), 0, 0, [],
    )  # fmt: skip
    stored = rows(book, "SELECT account_id, email, name, role, is_decision_maker FROM contact")
    expected = [
        (r["Associated Company IDs (Primary)"], r["Email"], f"{r['First Name']} {r['Last Name']}",
         r["Job Title"], r["Decision maker"] in ("true", "yes"))
        for r in hubspot
    ] + [
        (r["Account ID"], r["Email"], f"{r['First Name']} {r['Last Name']}", r["Title"],
         r["Decision_Maker__c"] == "true")
        for r in salesforce
    ]  # fmt: skip
    assert sorted(tuple(bool(v) if i == 4 else v for i, v in enumerate(r)) for r in stored) == (
        sorted(expected)
    )

    own = write(
        tmp_path / "people.csv",
        "Company,Mail,Full name,Influence\n"
        "9001,ana.ortiz@northwind.example,Ana Ortiz-Lee,high\n"  # line 2: same person, renamed
        "nope,x@nope.example,Nobody,low\n"  # line 3: unknown account
        "9002,not-an-email,Nobody,low\n"  # line 4
        "9002,,Nobody,low\n"  # line 5
        "9002,dana@bluebird.example,Dana,enormous\n",  # line 6
    )
    mapping = {"account": "Company", "email": "Mail", "name": "Full name", "influence": "Influence"}
    report = import_contacts(book, own, "csv", mapping)
    assert counts(report) == (0, 1, 0, [3, 4, 5, 6])
    assert [r["reason"] for r in report.refused] == [
        "unknown account 'nope' (import it first)",
        "email 'not-an-email' is not an email address",
        "no email",
        "influence 'enormous' is not one of low, medium, high",
    ]
    # What the file has no column for (role, decision maker) is left as it was.
    [ana] = [r for r in hubspot if r["Email"] == "ana.ortiz@northwind.example"]
    assert rows(
        book,
        "SELECT name, influence, role, is_decision_maker FROM contact "
        "WHERE email = 'ana.ortiz@northwind.example'",
    ) == [("Ana Ortiz-Lee", "high", ana["Job Title"], True)]
    assert import_contacts(book, own, "csv", mapping).unchanged == 1


# ------------------------------------------------------------------ usage


def _expected_usage(path: Path, events: dict[str, str]) -> dict[tuple, float]:
    """The daily values, read from the events file by the test itself."""
    users: dict[tuple, set] = defaultdict(set)
    per_feature: Counter = Counter()
    for line in path.read_text().splitlines():
        e = json.loads(line)
        account = (e.get("context") or {}).get("groupId") or e["properties"]["account_id"]
        day = datetime.fromisoformat(e["timestamp"]).astimezone(UTC).date()
        users[account, day].add(e.get("userId") or e.get("anonymousId"))
        if e["event"] in events:
            per_feature[account, day, events[e["event"]]] += 1
    return {(a, d, "active_users"): float(len(u)) for (a, d), u in users.items()} | {
        k: float(v) for k, v in per_feature.items()
    }


def _stored_usage(engine) -> dict[tuple, float]:
    return {
        (a, _day(d), f): v
        for a, d, f, v in rows(engine, "SELECT account_id, day, feature, value FROM usagedaily")
    }


def test_segment_events_aggregate_to_daily_usage_per_feature(book):
    sample = EXAMPLES / "segment_events.jsonl"
    events = sample.read_text().splitlines()
    report = import_usage(book, sample, DEFAULT_EVENT_FEATURES)
    expected = _expected_usage(sample, DEFAULT_EVENT_FEATURES)
    assert counts(report) == (len(expected), 0, 0, [])
    assert _stored_usage(book) == expected
    unmapped = Counter(
        e["event"] for e in map(json.loads, events) if e["event"] not in DEFAULT_EVENT_FEATURES
    )
    assert report.details == {"events": len(events), "unmapped_events": dict(unmapped)}
    assert unmapped  # the sample has an event only active users count

    assert counts(import_usage(book, sample, DEFAULT_EVENT_FEATURES)) == (0, 0, len(expected), [])
    assert _stored_usage(book) == expected

    # Mapping the unmapped event to reports adds its events to that day's reports.
    mapped = DEFAULT_EVENT_FEATURES | dict.fromkeys(unmapped, "reports")
    import_usage(book, sample, mapped)
    assert _stored_usage(book) == _expected_usage(sample, mapped) != expected


def test_broken_event_lines_are_refused_and_the_good_ones_kept(book, tmp_path):
    good = {"type": "track", "event": "API Call", "userId": "u-1",
            "timestamp": "2026-11-05T10:00:00Z", "context": {"groupId": "9003"}}  # fmt: skip
    lines = [
        json.dumps(good),  # 1
        "{not json",  # 2
        json.dumps({**good, "type": "page"}),  # 3
        json.dumps({k: v for k, v in good.items() if k != "timestamp"}),  # 4
        json.dumps({**good, "context": {"groupId": "nope"}}),  # 5
        json.dumps({k: v for k, v in good.items() if k != "userId"}),  # 6
        "",  # 7: blank lines are skipped
        json.dumps({**good, "userId": "u-2", "timestamp": "2026-11-05T11:00:00+01:00"}),  # 8
    ]
    path = write(tmp_path / "events.jsonl", "\n".join(lines) + "\n")
    report = import_usage(book, path, DEFAULT_EVENT_FEATURES)
    assert [(r["line"], r["reason"]) for r in report.refused] == [
        (2, "not JSON (Expecting property name enclosed in double quotes)"),
        (3, "not a Segment track event"),
        (4, "no timestamp"),
        (5, "unknown account 'nope' (import it first)"),
        (6, "no userId"),
    ]
    assert _stored_usage(book) == {
        ("9003", date(2026, 11, 5), "active_users"): 2.0,
        ("9003", date(2026, 11, 5), "api_calls"): 2.0,
    }


# ------------------------------------------------------------------ transcripts


def test_call_transcripts_in_webvtt_and_plain_text(book, tmp_path):
    folder = EXAMPLES / "transcripts"
    files = sorted(folder.iterdir())
    assert counts(import_transcripts(book, folder)) == (len(files), 0, 0, [])
    stored = {
        r[0]: r[1:]
        for r in rows(book, "SELECT title, account_id, at, participants, text FROM calltranscript")
    }
    vtt = (folder / "northwind-qbr.vtt").read_text()
    voices = [line[3 : line.index(">")] for line in vtt.splitlines() if line.startswith("<v ")]
    account, at, participants, said = stored["Q4 business review with Northwind"]
    assert (account, utc(at)) == ("9001", datetime(2026, 10, 28, 15, tzinfo=UTC))
    assert participants == ", ".join(dict.fromkeys(voices))
    assert said.splitlines() == [
        f"{line[3 : line.index('>')]}: {line[line.index('>') + 1 :]}"
        for line in vtt.splitlines()
        if line.startswith("<v ")
    ]
    txt = (folder / "kestrel-checkin.txt").read_text().split("\n\n", 1)[1]
    account, at, participants, said = stored["Monthly check-in with Kestrel"]
    assert (account, utc(at)) == ("9003", datetime(2026, 11, 4, 10, tzinfo=UTC))
    assert said == txt.strip()
    assert participants == ", ".join(dict.fromkeys(line.split(":")[0] for line in txt.splitlines()))
    assert counts(import_transcripts(book, folder)) == (0, 0, len(files), [])

    broken = tmp_path / "calls"
    broken.mkdir()
    write(broken / "a-no-account.vtt", "WEBVTT\n\nNOTE\nDate: 2026-11-01\n\n"
          "00:00:01.000 --> 00:00:02.000\n<v Jane>Hi\n")  # fmt: skip
    write(broken / "b-not-vtt.vtt", "this is not a caption file\n")
    write(broken / "c-no-date.txt", "Account: 9001\n\nJane: Hello\n")
    write(broken / "d-unknown.txt", "Account: nope\nDate: 2026-11-01\n\nJane: Hello\n")
    write(broken / "e-good.txt", "Account: 9002\nDate: 2026-11-01\n\nSam: Hello\n")
    report = import_transcripts(book, broken)
    assert report.imported == 1
    assert [(Path(r["where"]).name, r["reason"]) for r in report.refused] == [
        ("a-no-account.vtt", "no account"),
        ("b-not-vtt.vtt", "not WebVTT (Invalid format)"),
        ("c-no-date.txt", "no date"),
        ("d-unknown.txt", "unknown account 'nope' (import it first)"),
    ]
    assert rows(
        book, "SELECT title, participants FROM calltranscript WHERE account_id = '9002'"
    ) == [("e-good", "Sam")]


# ------------------------------------------------------------------ NPS and notes


def test_nps_responses_and_notes(book, tmp_path):
    nps = csv_rows(EXAMPLES / "nps.csv")
    assert counts(import_nps(book, EXAMPLES / "nps.csv")) == (len(nps), 0, 0, [])
    assert sorted(
        (a, e, s, c)
        for a, e, s, c in rows(
            book, "SELECT account_id, contact_email, score, comment FROM npsresponse"
        )
    ) == sorted((r["account"], r["email"], int(r["score"]), r["comment"]) for r in nps)
    assert import_nps(book, EXAMPLES / "nps.csv").unchanged == len(nps)

    notes = csv_rows(EXAMPLES / "notes.csv")
    assert counts(import_notes(book, EXAMPLES / "notes.csv")) == (len(notes), 0, 0, [])
    assert sorted(rows(book, "SELECT account_id, author, text FROM crmnote")) == sorted(
        (r["account"], r["author"], r["text"]) for r in notes
    )
    assert import_notes(book, EXAMPLES / "notes.csv").unchanged == len(notes)

    survey = write(
        tmp_path / "survey.csv",
        "Account,Submitted,Respondent,Rating,Why\n"
        "9002,2026-11-01T08:00:00Z,chloe@bluebird.example,11,too good\n"  # line 2
        "9002,2026-11-01T08:00:00Z,chloe@bluebird.example,7.5,\n"  # line 3
        "9002,yesterday-ish,chloe@bluebird.example,7,\n"  # line 4
        '9002,"Nov 2, 2026",chloe@bluebird.example,8,"multi\nline"\n'  # lines 5-6
        "9009,2026-11-01,x@y.example,5,\n",  # line 7
    )
    mapping = {"account": "Account", "at": "Submitted", "email": "Respondent",
               "score": "Rating", "comment": "Why"}  # fmt: skip
    report = import_nps(book, survey, mapping)
    assert [(r["line"], r["reason"]) for r in report.refused] == [
        (2, "score '11' is not a whole number from 0 to 10"),
        (3, "score '7.5' is not a whole number from 0 to 10"),
        (4, "'yesterday-ish' is not a date"),
        (7, "unknown account '9009' (import it first)"),
    ]
    [(at, comment)] = rows(
        book, "SELECT at, comment FROM npsresponse WHERE account_id = '9002' AND score = 8"
    )
    assert (utc(at), comment) == (datetime(2026, 11, 2, tzinfo=UTC), "multi\nline")

    with pytest.raises(ImportFileError, match="has no column for at .* --map at=Column"):
        import_notes(book, survey)


# ------------------------------------------------------------------ the CLI


def csops(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ) | {
        "CSOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "CSOPS_KNOWLEDGE_DIR": str(tmp_path / "index"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "csops.cli", "import", *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_cli_prints_json_and_refuses_bad_input_in_one_line(tmp_path):
    done = csops(tmp_path, "accounts", str(HUBSPOT), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | {"refused": []} == {
        "kind": "accounts", "imported": len(csv_rows(HUBSPOT)), "updated": 0, "unchanged": 0,
        "refused": [], "reindexed": [], "details": {},
    }  # fmt: skip
    kinds = ["accounts", "contacts", "usage", "transcripts", "nps", "notes", "tickets", "articles"]
    listed = csops(tmp_path, "--help")
    assert listed.returncode == 0 and all(f" {kind} " in listed.stdout for kind in kinds)
    for kind in kinds:
        assert csops(tmp_path, kind, "--help").returncode == 0, kind
    usage = csops(tmp_path, "usage", str(EXAMPLES / "segment_events.jsonl"))
    assert usage.returncode == 0 and usage.stdout.startswith("usage: "), usage.stderr
    for args, message in [
        (["accounts", "missing.csv"], "missing.csv is not a file"),
        (["accounts", str(HUBSPOT), "--format", "zoho"], "unknown format 'zoho'"),
        (["contacts", str(HUBSPOT), "--map", "shoe_size=Seats"], "unknown field 'shoe_size'"),
        (["usage", str(HUBSPOT), "--map", "Clicked=clicks"], "unknown feature 'clicks'"),
        (["transcripts", "nowhere"], "nowhere is neither a file nor a folder"),
    ]:
        bad = csops(tmp_path, *args)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def _on_a_terminal(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    """`csops import ARGS` with its stderr on a pseudo-terminal (as in a shell), and
    what that terminal showed."""
    import pty
    import threading

    main, side = pty.openpty()
    shown: list[bytes] = []

    def read() -> None:  # while it runs: a full terminal buffer would block it
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other side is closed: all is read
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = dict(os.environ) | {"CSOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'tty.db'}"}
    env.pop("NO_COLOR", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "csops.cli", "import", *args],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=side, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(side)
    reader.join(timeout=10)
    os.close(main)
    return done, b"".join(shown).decode(errors="replace")


def test_a_large_import_shows_its_progress_on_a_terminal_and_none_under_json(tmp_path):
    """A CRM export of 3,000 accounts: on a terminal a progress bar (rich) says what
    is being read while it runs; under --json nothing but the JSON is written."""
    [header, first, *_] = HUBSPOT.read_text().splitlines()
    rest = first.split(",", 2)[2]
    big = write(
        tmp_path / "big.csv",
        "\n".join([header] + [f"{90000 + n},Company {n},{rest}" for n in range(3_000)]) + "\n",
    )
    done, terminal = _on_a_terminal(tmp_path, "accounts", str(big))
    assert done.returncode == 0 and done.stdout.startswith("accounts: "), terminal
    assert "reading accounts" in terminal, terminal[-500:]
    assert rows(
        make_engine(f"sqlite:///{tmp_path / 'tty.db'}"), "SELECT COUNT(*) FROM account"
    ) == [(3_000,)]
    scripted, terminal = _on_a_terminal(tmp_path, "accounts", str(big), "--json")
    assert scripted.returncode == 0 and json.loads(scripted.stdout)["unchanged"] == 3_000
    assert terminal == "", terminal[-500:]
