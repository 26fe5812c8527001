"""The agent on a corpus written for the tests (tests/fixtures/tickets_multilingual.csv):
131 tickets in English, German, Spanish, French and Portuguese with breach reports,
outages, churn threats, billing disputes, legal requests, how-tos the demo help
centre answers and ones it does not, and injections of every kind.

All of them run through `csops shadow` (the real escalation workflows on a Temporal
server of the run's own, offline engine, nothing delivered) at two accounts: one
where the agent has the most autonomy (ARR $7.5K, far from the top 50) and a
top-50 account. What the report says is checked against what the workflows
recorded in the shadow run's own context database.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select
from support.cli import cli_env, csops
from support.data import add_account, customer_messages, outbox

from adapters.knowledge import article_answer
from context.db import make_engine, session
from context.tables import KnowledgeArticle, OutboxMessage, PastTicket, SupportTicket
from contracts.knowledge import SourceRef

CORPUS = Path(__file__).parent / "fixtures" / "tickets_multilingual.csv"
SMALL = "acc-7k"
TOP = "acc-top"
HOT_RISKS = {"security_incident", "data_loss", "outage", "churn_threat"}
STATUS_OF_ROUTE = {"answered": "answered", "human": "awaiting_human", "hot": "escalated"}


def corpus() -> dict[str, dict[str, str]]:
    with CORPUS.open(encoding="utf-8") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def label(row: dict[str, str]) -> str:
    return row["expect"].split(":")[0]


def source_text(db, source_id: str) -> str:
    kind, _, key = source_id.partition(":")
    with session(db) as s:
        if kind == "article":
            article = s.get(KnowledgeArticle, key)
            assert article is not None
            return article_answer(article.body)
        past = s.get(PastTicket, key)
        assert past is not None and past.answer
        return past.answer.strip()


@pytest.mark.timeout(400)  # 262 escalations on a busy CI machine
async def test_shadow_run_of_the_corpus(db, knowledge_template, tmp_path):
    add_account(db, SMALL, arr=7_500, top_rank=300)
    add_account(db, TOP, arr=180_000, segment="mid_market", top_rank=12)
    env = cli_env(tmp_path) | {"CSOPS_KNOWLEDGE_DIR": str(knowledge_template / "index")}
    out = tmp_path / "shadow"
    run = await csops(
        env, "shadow", str(CORPUS), "--account", SMALL, "--account", TOP, "--json",
        "--out", str(out), cwd=tmp_path, timeout_s=360,
    )  # fmt: skip
    report = run.json()
    rows = corpus()
    routes = report["routes"]
    assert len(routes) == report["tickets"] == 2 * len(rows) >= 260
    assert json.loads((out / "report.json").read_text()) == report
    html = (out / "report.html").read_text()
    assert f'Answered alone</div><div class="v">{report["totals"]["answered"]}<' in html

    # The counts are what the workflows did, as recorded in the run's own database.
    book = make_engine(f"sqlite:///{out / 'shadow.db'}")
    with session(book) as s:
        status = {t.id: t.status for t in s.exec(select(SupportTicket)).all()}
        messages = s.exec(select(OutboxMessage)).all()
    for r in routes:
        assert status[r["shadow_id"]] == STATUS_OF_ROUTE[r["route"]], r
    assert report["totals"] == {
        "answered": Counter(status.values())["answered"],
        "human": Counter(status.values())["awaiting_human"],
        "hot": Counter(status.values())["escalated"],
        "unsettled": 0,
    }
    replied = {m.workflow_id for m in messages if m.audience == "customer"}
    assert len(replied) == report["totals"]["answered"]
    hot_notes = {m.workflow_id for m in messages if m.subject.startswith("[csops] HOT")}
    assert len(hot_notes) == report["totals"]["hot"]
    for route in ("answered", "human", "hot"):
        assert sum(c[route] for c in report["breakdown"]) == report["totals"][route]
    assert all(r["reasons"] for r in routes if r["route"] != "answered")

    # Nothing was delivered: every message stays in the shadow outbox, marked so,
    # and the book the run was taken from is untouched.
    assert messages and {m.status for m in messages} == {"shadow"}
    assert not outbox(db)
    with session(db) as s:
        assert not s.exec(select(SupportTicket)).all()

    by_account = {
        acc: {r["ticket_id"]: r for r in routes if r["account_id"] == acc} for acc in (SMALL, TOP)
    }
    small = by_account[SMALL]
    alone = [r for r in small.values() if r["route"] == "answered"]

    # Nothing risky, high-priority, injected or unanswerable is answered alone.
    for r in alone:
        row = rows[r["ticket_id"]]
        assert label(row) == "answer", (row["id"], row["expect"])
        assert row["priority"] not in ("high", "urgent"), row["id"]

    # Every reply sent alone is in the customer's language, quotes its cited
    # source word for word, cites it, and carries no note meant for a reviewer.
    samples = {s["ticket_id"]: s for s in report["samples"] if s["account_id"] == SMALL}
    assert samples
    for r in alone:
        row = rows[r["ticket_id"]]
        [message] = customer_messages(book, f"escalation/{r['shadow_id']}")
        [source] = [SourceRef(**x) for x in r["sources"]]
        if r["ticket_id"] in samples:
            assert samples[r["ticket_id"]]["reply"] == message.body
            assert samples[r["ticket_id"]]["sources"] == r["sources"]
        assert source.language == row["language"], row["id"]
        source_id = source.source_id
        assert source_text(book, source_id) in message.body, row["id"]
        assert source.citation() in message.body
        assert "Not sendable" not in message.body and "Candidate source" not in message.body
        assert message.subject != row["subject"]
        if source_id.startswith("article:"):  # an article's id names its topic
            assert source_id.startswith(f"article:{row['expect'].split(':')[1]}-")

    # Hot: every security incident, data loss, outage and churn threat, in every
    # language, goes to the CSM and on-call for an acknowledgement in minutes.
    for r in small.values():
        row = rows[r["ticket_id"]]
        risk = row["expect"].split(":")[1] if label(row) == "risk" else None
        if risk in HOT_RISKS:
            assert r["route"] == "hot", (row["id"], row["expect"], r)
        if r["route"] != "answered":
            assert not customer_messages(book, f"escalation/{r['shadow_id']}"), row["id"]

    answerable = [
        r for r in small.values()
        if label(rows[r["ticket_id"]]) == "answer"
        and rows[r["ticket_id"]]["priority"] not in ("high", "urgent")
    ]  # fmt: skip
    answered = sum(r["route"] == "answered" for r in answerable)
    # The help centre answers these; the agent answers most of them alone.
    assert answered >= 0.75 * len(answerable), (answered, len(answerable))

    # At a top-50 account the same tickets are drafted for the CSM, never sent alone,
    # and the hot ones are just as hot.
    top = by_account[TOP]
    assert not [r for r in top.values() if r["route"] == "answered"]
    assert {t for t, r in top.items() if r["route"] == "hot"} == {
        t for t, r in small.items() if r["route"] == "hot"
    }
    assert report["reasons"]["human"]["copilot (rule top-50-accounts-human-decides)"] >= answered
