"""Workflow ids are business keys: a second launch for the same thing is refused
or attached, never duplicated."""

from __future__ import annotations

from datetime import date


def escalation_id(ticket_id: str) -> str:
    return f"escalation/{ticket_id}"


def onboarding_id(account_id: str) -> str:
    return f"onboarding/{account_id}"


def renewal_id(account_id: str, renewal_date: date) -> str:
    return f"renewal/{account_id}/{renewal_date.isoformat()}"


def watch_id(account_id: str) -> str:
    """The account's always-on watch (one per account, for as long as it exists)."""
    return f"health/{account_id}"
