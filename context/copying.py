"""Copying part of a context database into another one (a shadow run's book)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from context.tables import (
    Account,
    AuditEvent,
    KnowledgeArticle,
    OnboardingReviewRecord,
    OutboxMessage,
    PastTicket,
    RenewalPackageRecord,
    SupportTicket,
)

# What workflows write (a shadow run starts without any) and the live tickets
# (a shadow run brings its own).
NOT_COPIED = {
    t.__tablename__
    for t in (
        AuditEvent,
        OutboxMessage,
        OnboardingReviewRecord,
        RenewalPackageRecord,
        SupportTicket,
    )
}
KNOWLEDGE = {KnowledgeArticle.__tablename__, PastTicket.__tablename__}
BATCH = 5_000


def copy_accounts(source: Engine, target: Engine, account_ids: Collection[str]) -> dict[str, int]:
    """Copy the named accounts with everything recorded about them (contacts, usage,
    NPS, notes, calls) and all knowledge into `target`, which must be empty.

    Returns:
        Rows copied per table.
    """
    ids = list(account_ids)
    copied: dict[str, int] = {}
    with source.connect() as src, target.begin() as dst:
        for table in SQLModel.metadata.sorted_tables:  # parents before children
            if table.name in NOT_COPIED:
                continue
            query = select(table)
            if table.name == Account.__tablename__:
                query = query.where(table.c.id.in_(ids))
            elif table.name not in KNOWLEDGE and "account_id" in table.c:
                query = query.where(table.c.account_id.in_(ids))
            elif table.name not in KNOWLEDGE:
                continue  # a table this copy does not know what to do with
            copied[table.name] = 0
            for rows in src.execute(query).mappings().partitions(BATCH):
                dst.execute(insert(table), [dict(r) for r in rows])
                copied[table.name] += len(rows)
    return copied
