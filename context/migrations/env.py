"""Alembic's entry point: runs on the connection `context.db.upgrade` hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from context import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
# SQLite alters a table by copying it (batch mode); PostgreSQL alters in place.
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
