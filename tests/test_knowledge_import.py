"""Importing help-centre articles and past tickets: exact counts, refused rows with
their line and reason, re-imports that change nothing, and the index it feeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from adapters.importers import ImportFileError
from adapters.knowledge import KnowledgeBase
from context.db import make_engine, session
from context.tables import PastTicket
from csops.importing import import_articles, import_tickets

ARTICLE = """---
id: {id}
title: {title}
locale: {locale}
url: https://help.example.test/{id}
tags: [billing]
---
{body}
"""


@pytest.fixture
def empty(tmp_path):
    """A context database with no knowledge yet (the shared one has the demo's)."""
    return make_engine(f"sqlite:///{tmp_path / 'empty.db'}")


@pytest.fixture
def fresh(empty, tmp_path):
    """Its knowledge base, with an index folder of its own."""
    return KnowledgeBase(empty, tmp_path / "own-index")


def test_a_csv_with_its_own_column_names_imports_with_a_map_and_reports_bad_rows(
    empty, fresh, tmp_path
):
    export = tmp_path / "export.csv"
    export.write_text(
        "Ticket ID,Title,Description,Resolution,State,Urgency,Labels,Lang\n"
        'Z-1,Move invoices,"Where do I change the email my invoices go to?",'
        '"Settings → Billing → Billing contact: enter the new email.",solved,normal,billing,en\n'
        ",No id,Nobody can answer this,,solved,low,,en\n"
        "Z-3,Priority typo,How do I add seats?,Settings → Billing → Seats.,solved,soonish,,en\n"
        "Z-4,Rechnungen,Wohin gehen unsere Rechnungen?,Einstellungen → Abrechnung.,solved,low,,\n",
        encoding="utf-8",
    )
    mapping = {"id": "Ticket ID", "subject": "Title", "body": "Description", "answer": "Resolution",
               "status": "State", "priority": "Urgency", "tags": "Labels", "language": "Lang"}  # fmt: skip
    report = import_tickets(empty, fresh, export, "csv", mapping)
    assert (report.imported, report.updated, report.unchanged) == (2, 0, 0)
    assert report.refused == [
        {"where": str(export), "line": 3, "reason": "no id"},
        {"where": str(export), "line": 4,
         "reason": "priority 'soonish' is not one of high, low, medium, normal, urgent"},
    ]  # fmt: skip
    with session(empty) as s:
        german = s.get(PastTicket, "Z-4")
        assert german is not None and german.language == "de"  # detected: no Lang given
    assert report.reindexed == ["de", "en"]

    again = import_tickets(empty, fresh, export, "csv", mapping)
    assert (again.imported, again.updated, again.unchanged, len(again.refused)) == (0, 0, 2, 2)
    assert again.reindexed == []  # nothing changed, nothing rebuilt
    [hit] = [
        c
        for c in fresh.find("change the email for invoices", "en")
        if c.ref.source_id == "ticket:Z-1"
    ]
    assert hit.answer == "Settings → Billing → Billing contact: enter the new email."


def test_a_map_naming_a_missing_column_refuses_the_file(empty, fresh, tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("id,subject,body\n1,a,b\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="has no column 'Betreff'"):
        list(import_tickets(empty, fresh, export, "csv", {"subject": "Betreff"}).refused)


def test_zendesk_json_takes_the_first_public_agent_comment_as_the_answer(empty, fresh, tmp_path):
    export = tmp_path / "tickets.json"
    tickets = [
        {"id": 101, "subject": "SSO", "description": "How do we set up SSO with Okta?",
         "status": "solved", "priority": "normal", "tags": ["sso"], "requester_id": 7,
         "created_at": "2026-06-01T10:00:00Z",
         "comments": [
             {"author_id": 7, "public": True, "body": "How do we set up SSO with Okta?"},
             {"author_id": 9, "public": False, "body": "internal: check their plan"},
             {"author_id": 7, "public": True, "body": "Any news?"},
             {"author_id": 9, "public": True, "body": "Settings → Security → Single sign-on → SAML."},
         ]},
        {"id": 102, "subject": "", "description": "", "comments": []},
    ]  # fmt: skip
    export.write_text(json.dumps({"tickets": tickets}), encoding="utf-8")
    report = import_tickets(empty, fresh, export, "zendesk-json")
    assert (report.imported, [r["line"] for r in report.refused]) == (1, [2])
    with session(empty) as s:
        [row] = s.exec(select(PastTicket)).all()
    assert row.answer == "Settings → Billing → Single sign-on → SAML.".replace(
        "Billing", "Security"
    )
    assert (row.id, row.status, row.tags, row.language) == ("101", "solved", ["sso"], "en")


def test_markdown_and_zendesk_articles_import_and_bad_ones_are_named(empty, fresh, tmp_path):
    folder = tmp_path / "hc"
    (folder / "en").mkdir(parents=True)
    (folder / "en" / "invoices.md").write_text(
        ARTICLE.format(id="invoices-en", title="Download invoices", locale="en",
                       body="Open Settings → Billing → Invoices and click Download PDF."),
        encoding="utf-8",
    )  # fmt: skip
    (folder / "en" / "broken.md").write_text("---\ntitle: no id\n---\nbody\n", encoding="utf-8")
    report = import_articles(empty, fresh, folder)
    assert report.imported == 1
    assert report.refused == [
        {
            "where": str(folder / "en" / "broken.md"),
            "line": 1,
            "reason": "front matter lacks id, locale",
        }
    ]
    assert import_articles(empty, fresh, folder).unchanged == 1

    zendesk = tmp_path / "articles.json"
    zendesk.write_text(json.dumps({"articles": [
        {"id": 55, "title": "Rechnungen herunterladen", "locale": "de",
         "html_url": "https://help.example.test/de/55", "label_names": ["billing"],
         "body": "<p>Öffnen Sie <b>Einstellungen → Abrechnung</b>.</p><ul><li>Rechnungen</li></ul>"},
        {"id": 56, "title": "", "body": "<p>no title</p>"},
    ]}), encoding="utf-8")  # fmt: skip
    report = import_articles(empty, fresh, zendesk)
    assert (report.imported, len(report.refused), report.reindexed) == (1, 1, ["de"])
    [hit] = [c for c in fresh.find("Wie kann ich Rechnungen herunterladen?", "de")
             if c.ref.source_id == "article:55"]  # fmt: skip
    assert hit.ref.url == "https://help.example.test/de/55"
    assert "Einstellungen → Abrechnung" in hit.answer and "<" not in hit.answer


def test_the_demo_help_centre_is_in_five_languages(knowledge):
    assert knowledge.index.languages() == ["de", "en", "es", "fr", "pt"]
    assert {c.ref.source_id for c in knowledge.find("Wie richte ich SSO mit Okta ein?", "de")} >= {
        "article:sso-okta-de"
    }


def test_a_missing_file_is_one_clear_error(empty, fresh, tmp_path):
    with pytest.raises(ImportFileError, match="is not a file"):
        import_tickets(empty, fresh, Path(tmp_path / "nope.csv"), "csv")
