"""Engine and sessions for the context database (SQLite under .csops/ by default,
any SQLAlchemy URL given, e.g. from CSOPS_DATABASE_URL: PostgreSQL through psycopg).
The schema is Alembic's migrations, applied whenever an engine is made."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Session, create_engine

from context import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

DEFAULT_DATA_DIR = Path(".csops")
MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision (tests/test_db_open.py: Alembic's head). A database
# already at it opens without importing Alembic, which (with Mako and Pygments) was a
# fifth of `csops ticket`'s start-up. Bump it with every new migration.
HEAD_REVISION = "0001"
# Any fixed number, the same in every csops process: the key of the migration lock.
MIGRATION_LOCK = 0x637306F5


def default_database_url() -> str:
    DEFAULT_DATA_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{(DEFAULT_DATA_DIR / 'csops.db').resolve()}"


class DatabaseError(RuntimeError):
    """The context database cannot be opened: a URL SQLAlchemy cannot read, a driver
    that is not installed, or a server that does not answer. The message is one
    sentence, without the URL's password."""


def make_engine(url: str | None = None) -> Engine:
    """Create the engine and bring the schema to the newest migration (idempotent).

    Raises:
        DatabaseError: the database cannot be opened.
    """
    url = url or default_database_url()
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError as err:
        raise DatabaseError(f"the context database URL cannot be read: {err}") from err
    try:
        engine = _create(url)
        upgrade(engine)
    except (NoSuchModuleError, ImportError) as err:
        raise DatabaseError(
            f"cannot open the context database {shown}: its driver is not installed ({err})"
        ) from err
    except OperationalError as err:
        reason = str(err.orig).strip().splitlines()[0]
        raise DatabaseError(f"cannot open the context database {shown}: {reason}") from err
    return engine


def _create(url: str) -> Engine:
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
        engine = create_engine(_with_driver(url), pool_pre_ping=True)
    return engine


def _with_driver(url: str) -> str:
    """`postgresql://` names no driver, and SQLAlchemy's default for it differs between
    versions (psycopg2 before 2.1): csops ships psycopg 3, so that is the one to use."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def upgrade(engine: Engine) -> None:
    """Apply the migrations the database lacks (Alembic, context/migrations/). A database
    made before csops migrated has tables but no version: the baseline migration
    brings it to its schema in place (see 0001_baseline), so its rows stay."""
    if _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Workers starting together: one migrates, the others wait and find it done.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _at_head(engine: Engine) -> bool:
    """Whether the database records the newest migration as applied (Alembic writes
    it in the migration's own transaction)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return set(versions) == {HEAD_REVISION}


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
