"""Alembic migrations of the context database; `context.db.make_engine` applies them."""
