"""The weekly health digest per CSM (Schedule `health-digest-weekly`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel

WEEK = timedelta(days=7)


def iso_week(day: date) -> str:
    """`2026-W47`: the ISO week a digest is for (one message per CSM and week)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class HealthDigestInput(BaseModel):
    """Empty from the Schedule: the digest covers the 7 days up to the moment it runs
    (the workflow fills `until` with its own clock, so a retry covers the same week)."""

    until: datetime | None = None


class HealthDigestResult(BaseModel):
    week: str  # the ISO week of `until`, e.g. 2026-W47
    since: datetime  # the week's risks and plays: audit rows at or after this ...
    until: datetime  # ... and before this
    as_of: date  # the day whose stored scores are "now" (movement: against as_of - 7)
    recipients: int  # CSMs with at least one account
    accounts: int
    events: int  # risks and plays of the week in their books
    waiting: int  # open requests listed, over every digest
    duplicates: int  # digests already sent this week (a second run sends nothing new)
