"""Context-layer tables of the renewal package.

Kept apart from context/tables.py for now; context/db.py must import this module
next to `context.tables` so `make_engine` creates the table with the others.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class RenewalPackageRecord(SQLModel, table=True):
    """One renewal package per workflow run: the rendered artifacts and the data.

    The unique workflow id is what makes a retried store return the stored row.
    """

    __table_args__ = (UniqueConstraint("workflow_id"),)
    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str
    account_id: str = Field(foreign_key="account.id", index=True)
    renewal_date: date
    created_at: datetime
    risk_level: str  # low | medium | high
    markdown_path: str
    html_path: str
    markdown: str = Field(sa_column=Column(Text, nullable=False))
    html: str = Field(sa_column=Column(Text, nullable=False))
    package: dict = Field(default_factory=dict, sa_column=Column(JSON))  # RenewalPackage
