"""The daily CSM digest's messages."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class DigestInput(BaseModel):
    """Empty from the Schedule: the digest is for the day it runs."""

    day: date | None = None


class DigestResult(BaseModel):
    day: date
    recipients: int
    requests: int
    duplicates: int  # digests already sent today (a second run sends nothing new)
