"""Engine and sessions for the context database (SQLite under .csops/ by default,
any SQLAlchemy URL given, e.g. from CSOPS_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from context import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

DEFAULT_DATA_DIR = Path(".csops")


def default_database_url() -> str:
    DEFAULT_DATA_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{(DEFAULT_DATA_DIR / 'csops.db').resolve()}"


def make_engine(url: str | None = None) -> Engine:
    """Create the engine and the tables (idempotent)."""
    url = url or default_database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # WAL lets the worker's activity threads read while one writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    SQLModel.metadata.create_all(engine)
    _add_missing_columns(engine)
    _add_missing_indexes(engine)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Columns added to an existing table since the database was made (every one
    is nullable or has a default), so an upgrade keeps the data it has. create_all
    only makes missing tables; anything beyond adding columns needs a migration."""
    existing = inspect(engine)
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if not existing.has_table(table.name):
                continue
            have = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(
                        text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
                    )


def _add_missing_indexes(engine: Engine) -> None:
    """Indexes added to an existing table since the database was made: create_all
    makes a table's indexes only with the table. Building one over millions of
    rows takes seconds, once."""
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
