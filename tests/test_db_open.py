"""Opening the context database: Alembic only when a migration is due.

Every `csops` command that touches the database makes an engine, and making one
brings the schema to the newest migration. A database already there opens without
importing Alembic (context/db.py HEAD_REVISION); one that is behind still migrates.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from context.db import HEAD_REVISION, MIGRATIONS, make_engine

ROOT = Path(__file__).parent.parent
# Opens the database at the URL given, then says whether Alembic was imported.
OPEN_AND_TELL = (
    "import sys; from context.db import make_engine; make_engine(sys.argv[1]).dispose(); "
    "print('alembic' in sys.modules)"
)


def _imported_alembic(url: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", OPEN_AND_TELL, url],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip() == "True"


def test_head_revision_is_the_newest_migration() -> None:
    """A migration added without bumping HEAD_REVISION fails here (a database at the
    old head would otherwise open without the new migration)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_a_new_database_migrates_and_then_opens_without_alembic(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'context.db'}"

    assert _imported_alembic(url)  # new: the migrations ran

    engine = make_engine(url)
    assert "account" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (HEAD_REVISION,)
        ]
    engine.dispose()
    assert not _imported_alembic(url)  # at the newest migration: nothing to do


def test_a_database_behind_the_newest_migration_still_migrates(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'context.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:  # as before its first migration: tables, no version
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("DROP TABLE investigation"))
    engine.dispose()

    assert _imported_alembic(url)

    engine = make_engine(url)
    assert "investigation" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (HEAD_REVISION,)
        ]
    engine.dispose()
