"""The agent on a corpus written for the tests (tests/fixtures/tickets_multilingual.csv):
131 tickets in English, German, Spanish, French and Portuguese with breach reports,
outages, churn threats, billing disputes, legal requests, how-tos the demo help
centre answers and ones it does not, and injections of every kind.

All of them run through the real escalation workflow at the account where the
agent has the most autonomy (ARR $7.5K, far from the top 50), offline engine.
"""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from support.data import add_account, add_ticket, customer_messages
from support.polling import eventually
from support.temporal import start_escalation
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from adapters.knowledge import article_answer
from context.db import session
from context.tables import KnowledgeArticle, PastTicket
from contracts.escalation import EscalationResult
from contracts.human import HumanRequestView

CORPUS = Path(__file__).parent / "fixtures" / "tickets_multilingual.csv"
SMALL = "acc-7k"
HOT_RISKS = {"security_incident", "data_loss", "outage", "churn_threat"}


@dataclass
class Routed:
    row: dict[str, str]
    handle: WorkflowHandle
    result: EscalationResult | None  # finished on its own: answered alone
    requests: list[HumanRequestView]  # or waiting for a human

    @property
    def label(self) -> str:
        return self.row["expect"].split(":")[0]


def corpus() -> list[dict[str, str]]:
    with CORPUS.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def settle(handle: WorkflowHandle) -> tuple[EscalationResult | None, list]:
    """Run the ticket until the agent finished alone or a human is asked."""

    async def state():
        if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result(), []
        return None, await handle.query("human_requests", result_type=list[HumanRequestView])

    return await eventually(
        state, timeout_s=60, every_s=0.2, holds=lambda s: s[0] or s[1], ignoring=(Exception,)
    )


async def route_all(dev_env, db, tq) -> list[Routed]:
    rows = corpus()
    for row in rows:
        add_ticket(db, row["id"], SMALL, row["subject"], row["body"], row["priority"] or None)
    handles = [await start_escalation(db, dev_env.client, tq, row["id"]) for row in rows]
    settled = await asyncio.gather(*(settle(h) for h in handles))
    return [
        Routed(row, h, res, reqs)
        for row, h, (res, reqs) in zip(rows, handles, settled, strict=True)
    ]


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


async def test_the_agent_answers_what_it_knows_and_hands_over_the_rest(dev_env, db, run_worker):
    add_account(db, SMALL, arr=7_500, top_rank=300)
    async with run_worker(dev_env) as tq:
        routed = await route_all(dev_env, db, tq)
        for r in routed:
            if r.result is None:
                await r.handle.terminate("corpus test done")

    alone = [r for r in routed if r.result is not None]
    waiting = [r for r in routed if r.result is None]
    assert len(alone) + len(waiting) == len(routed) >= 130

    # Nothing risky, high-priority, injected or unanswerable is answered alone.
    for r in alone:
        assert r.label == "answer", (r.row["id"], r.row["expect"])
        assert r.row["priority"] not in ("high", "urgent"), r.row["id"]

    # Every reply sent alone is in the customer's language, quotes its cited
    # source word for word, cites it, and carries no note meant for a reviewer.
    for r in alone:
        assert r.result and r.result.outcome in ("sent", "sent_sampled")
        [source] = r.result.sources
        [message] = customer_messages(db, r.handle.id)
        assert source.language == r.row["language"], r.row["id"]
        assert source_text(db, source.source_id) in message.body, r.row["id"]
        assert source.citation() in message.body
        assert "Not sendable" not in message.body and "Candidate source" not in message.body
        assert message.subject != r.row["subject"]
        if source.kind == "article":  # an article's id names its topic
            assert source.source_id.startswith(f"article:{r.row['expect'].split(':')[1]}-")

    # Hot: every security incident, data loss, outage and churn threat, in every
    # language, goes to the CSM and on-call for an acknowledgement in minutes.
    for r in waiting:
        risk = r.row["expect"].split(":")[1] if r.label == "risk" else None
        kinds = {q.kind for q in r.requests}
        if risk in HOT_RISKS:
            assert "ack" in kinds, (r.row["id"], r.row["expect"], kinds)
        assert not customer_messages(db, r.handle.id), r.row["id"]

    answerable = [
        r for r in routed if r.label == "answer" and r.row["priority"] not in ("high", "urgent")
    ]
    answered = sum(r.result is not None for r in answerable)
    by_label = Counter((r.label, r.result is not None) for r in routed)
    # The help centre answers these; the agent answers most of them alone.
    assert answered >= 0.75 * len(answerable), (answered, len(answerable), by_label)
