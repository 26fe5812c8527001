"""The daily digest: one message per person who has something waiting."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import Client

from activities.records import RecordActivities
from adapters.inbox import collect_inbox
from adapters.templates import render_for_activity
from contracts.digest import DigestInput, DigestResult
from contracts.human import InboxItem
from contracts.records import OutboundMessage


class DigestActivities:
    def __init__(self, engine: Engine, client: Client) -> None:
        self._records = RecordActivities(engine)
        self._client = client

    @activity.defn(name="send_csm_digests")
    async def send_csm_digests(self, inp: DigestInput) -> DigestResult:
        """Group every open request by eligible approver and queue one digest each.

        Keyed by day and recipient, so a retry or a second run sends nothing twice.
        """
        day = inp.day or datetime.now(UTC).date()
        items = await collect_inbox(self._client)
        per_person: defaultdict[str, list[InboxItem]] = defaultdict(list)
        for item in items:
            for person in item.request.eligible_approvers:
                per_person[person.lower()].append(item)
        duplicates = 0
        workflow_id = activity.info().workflow_id
        for person, waiting in sorted(per_person.items()):
            body = render_for_activity(
                "messages/csm_digest.md.j2",
                person=person,
                day=day,
                items=[i.model_dump(mode="json") for i in waiting],
            )
            receipt = await asyncio.to_thread(
                self._records.send_message,
                OutboundMessage(
                    idempotency_key=f"digest/{day.isoformat()}/{person}",
                    workflow_id=workflow_id,
                    account_id="",
                    audience="internal",
                    to=[person],
                    subject=f"[csops] {len(waiting)} waiting for you ({day})",
                    body=body,
                    created_at=datetime.now(UTC),
                ),
            )
            duplicates += receipt.duplicate
        return DigestResult(
            day=day, recipients=len(per_person), requests=len(items), duplicates=duplicates
        )
