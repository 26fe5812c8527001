"""Opening a review (the review loop): the sampled send's review is a workflow of its
own, started here rather than as a child, so it outlives the workflow that sent the
message and that workflow never waits for it."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from adapters.launcher import start_review
from contracts.human import ReviewInput


class ReviewActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="open_review")
    async def open_review(self, inp: ReviewInput) -> bool:
        """Start the review workflow of one sent message, on this worker's task queue;
        False when it was opened before (a retry or a replay opens nothing twice)."""
        launch = await start_review(self._client, activity.info().task_queue, inp)
        return launch.started
