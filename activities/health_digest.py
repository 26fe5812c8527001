"""The weekly health digest: one message per CSM with their book, the week's risks
and plays, and what waits for them, each line linking to its workflow in the UI."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import Client

from activities.records import RecordActivities
from adapters.inbox import collect_inbox, inbox_query
from adapters.templates import render_for_activity
from adapters.ui_links import workflow_url, workflows_url
from context.db import session
from context.health_digest import BookLine, CsmBook, health_books
from contracts.health_digest import WEEK, HealthDigestInput, HealthDigestResult, iso_week
from contracts.human import InboxItem
from contracts.ids import watch_id
from contracts.records import OutboundMessage


def week_text(line: BookLine) -> str:
    """The account's movement as the digest prints it."""
    if line.score is None:
        return "not scored yet"
    if line.movement is None:
        return "new"
    return f"{line.movement:+d} from {line.previous}"


class HealthDigestActivities:
    def __init__(self, engine: Engine, client: Client, ui_url: str) -> None:
        self._engine = engine
        self._records = RecordActivities(engine)
        self._client = client
        self._ui_url = ui_url

    def _link(self, workflow_id: str) -> str:
        return workflow_url(self._ui_url, self._client.namespace, workflow_id)

    def _books(self, as_of: date, since: datetime, until: datetime) -> dict[str, CsmBook]:
        with session(self._engine) as s:
            return health_books(s, as_of, since, until)

    def _body(
        self, person: str, book: CsmBook, waiting: list[InboxItem], week: dict[str, Any]
    ) -> str:
        return render_for_activity(
            "messages/health_digest.md.j2",
            person=person,
            **week,
            lines=[
                {
                    **vars(line),
                    "week": week_text(line),
                    "url": self._link(watch_id(line.account_id)),
                }
                for line in book.lines
            ],
            events=[{**vars(e), "url": self._link(e.workflow_id)} for e in book.events],
            waiting=[
                {**i.model_dump(mode="json"), "url": self._link(i.workflow_id)} for i in waiting
            ],
            inbox_url=workflows_url(self._ui_url, self._client.namespace, inbox_query(person)),
        )

    @activity.defn(name="send_health_digests")
    async def send_health_digests(self, inp: HealthDigestInput) -> HealthDigestResult:
        """Queue one digest per CSM who owns an account, for the 7 days up to `until`.

        Keyed by ISO week and recipient, so a retry or a second run in the same week
        sends nothing twice.
        """
        until = (inp.until or datetime.now(UTC)).astimezone(UTC)
        since, as_of = until - WEEK, until.date()
        week = iso_week(as_of)
        period = {"week": week, "since": since, "until": until, "week_ago": as_of - WEEK}
        books = sorted((await asyncio.to_thread(self._books, as_of, since, until)).items())
        inboxes = await asyncio.gather(*(collect_inbox(self._client, csm) for csm, _ in books))
        duplicates = 0
        for (person, book), waiting in zip(books, inboxes, strict=True):
            at_risk = sum(line.band == "at_risk" for line in book.lines)
            receipt = await asyncio.to_thread(
                self._records.send_message,
                OutboundMessage(
                    idempotency_key=f"health-digest/{week}/{person}",
                    workflow_id=activity.info().workflow_id,
                    account_id="",
                    audience="internal",
                    to=[person],
                    subject=f"[csops] Your book for {week}: {len(book.lines)} account(s), "
                    f"{at_risk} at risk, {len(waiting)} waiting for you",
                    body=self._body(person, book, waiting, period),
                    created_at=datetime.now(UTC),
                ),
            )
            duplicates += receipt.duplicate
        return HealthDigestResult(
            week=week,
            since=since,
            until=until,
            as_of=as_of,
            recipients=len(books),
            accounts=sum(len(b.lines) for _, b in books),
            events=sum(len(b.events) for _, b in books),
            waiting=sum(len(w) for w in inboxes),
            duplicates=duplicates,
        )
