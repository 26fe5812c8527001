"""Raw Temporal baseline: a sandboxed workflow whose one activity writes one row,
the least work a notification can be."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from temporalio import activity, workflow


class RawActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="raw_notify")
    def raw_notify(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(text("INSERT INTO raw_outbox (key) VALUES (:k)"), {"k": key})


@workflow.defn(name="RawNotify")
class RawNotify:
    @workflow.run
    async def run(self, key: str) -> None:
        await workflow.execute_activity_method(RawActivities.raw_notify, key,
                                               start_to_close_timeout=timedelta(seconds=30))
