"""Requests as the audit table records them (rows read with support.data.audit)."""

from __future__ import annotations

from context.tables import AuditEvent


def closed_requests(
    audit: list[AuditEvent], outcomes: tuple[str, ...]
) -> list[tuple[AuditEvent, AuditEvent]]:
    """(opening row, closing row) of each request closed with one of `outcomes`: the
    closing row's key is the opening row's with `requested` replaced by its outcome."""
    opened = {e.idempotency_key: e for e in audit if e.outcome == "requested"}
    pairs = []
    for closing in audit:
        if closing.outcome in outcomes:
            key = closing.idempotency_key[: -len(closing.outcome)] + "requested"
            if key in opened:
                pairs.append((opened[key], closing))
    return pairs
