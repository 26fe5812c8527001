"""The PostgreSQL path and the schema's migrations.

Migrations run against SQLite and against a real PostgreSQL server this run starts
(tests/support/postgres.py): a new database gets exactly the models' schema, a
database made before csops migrated (by create_all, missing what was added since)
upgrades in place keeping its rows, and workers starting together migrate once.
The context-layer and workflow tests run again on PostgreSQL under tests/postgres/.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel
from support.cli import cli_env, csops
from support.net import free_port

from context.db import MIGRATIONS, DatabaseError, make_engine
from context.tables import Account


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request, tmp_path):
    """The URL of a new, empty database of either kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new.db'}"
    return request.getfixturevalue("postgres").new_database()


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _schema_differences(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)


def _version(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_a_new_database_gets_the_models_schema_at_the_newest_migration(new_url):
    """A table or column changed in context/tables.py without a migration fails here."""
    engine = make_engine(new_url)
    assert _version(engine) == _head()
    assert _schema_differences(engine) == []
    engine.dispose()


def test_a_database_from_before_migrations_upgrades_and_keeps_its_rows(new_url):
    # As csops made it before migrations: create_all, by an older csops that had no
    # investigation table, no auditevent.engine column and no ticket index yet.
    old = create_engine(new_url)
    SQLModel.metadata.create_all(old)
    account = Account(
        id="acme", name="Acme", arr=42_000.0, segment="mid_market", plan="pro", seats=40,
        stage="adopted", top_rank=7, signed_date=date(2025, 3, 1), renewal_date=date(2026, 3, 1),
        owner_csm="jane@csops.test", manager="max@csops.test",
    )  # fmt: skip
    with old.begin() as conn:
        conn.execute(text("DROP TABLE investigation"))
        conn.execute(text("DROP INDEX ix_ticket_account_created_id"))
        conn.execute(text('ALTER TABLE auditevent DROP COLUMN "engine"'))
        conn.execute(Account.__table__.insert(), [account.model_dump()])  # type: ignore[attr-defined]
        conn.execute(
            text(
                "INSERT INTO auditevent (idempotency_key, at, workflow_id, account_id, actor,"
                " action, outcome) VALUES ('k1', '2026-01-05 10:00:00', 'wf', 'acme',"
                " 'agent', 'ticket_classification', 'done')"
            )
        )
    old.dispose()

    engine = make_engine(new_url)

    found = inspect(engine)
    assert "investigation" in found.get_table_names()
    assert "engine" in {c["name"] for c in found.get_columns("auditevent")}
    assert "ix_ticket_account_created_id" in {i["name"] for i in found.get_indexes("supportticket")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, arr, owner_csm FROM account")).all() == [
            ("acme", 42_000.0, "jane@csops.test")
        ]
        assert conn.execute(text("SELECT idempotency_key, engine FROM auditevent")).all() == [
            ("k1", None)
        ]
    assert _version(engine) == _head()
    assert _schema_differences(engine) == []
    # Made again (every csops process makes its engine): nothing left to do, rows kept.
    again = make_engine(new_url)
    with again.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM account")).scalar_one() == 1
    engine.dispose()
    again.dispose()


def test_workers_starting_together_on_postgres_migrate_once(postgres):
    url = postgres.new_database()
    with ThreadPoolExecutor(max_workers=4) as pool:
        engines = list(pool.map(make_engine, [url] * 4))
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [(_head(),)]
    assert _schema_differences(engines[0]) == []
    for engine in engines:
        engine.dispose()


def test_a_postgresql_url_without_a_driver_uses_psycopg(postgres):
    url = postgres.new_database().replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(url)
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://csops:hunter2@127.0.0.1/csops", "its driver is not installed"),
        ("not a url", "the context database URL cannot be read"),
    ],
)
def test_a_database_csops_cannot_open_is_one_sentence_without_the_password(url, reason):
    with pytest.raises(DatabaseError) as caught:
        make_engine(url)
    assert reason in str(caught.value)
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_postgresql_server_that_does_not_answer_is_named():
    url = f"postgresql://csops:hunter2@127.0.0.1:{free_port()}/csops"
    with pytest.raises(DatabaseError) as caught:
        make_engine(url)
    assert str(caught.value).startswith("cannot open the context database postgresql://csops:***@")
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)


async def test_the_cli_says_why_the_database_cannot_be_opened_and_exits_2(tmp_path):
    env = cli_env(tmp_path)
    env["CSOPS_DATABASE_URL"] = "mysql://csops:hunter2@127.0.0.1/csops"
    # `worker` and `up` too: they check it before starting anything.
    for command in (["seed", "--accounts", "3"], ["worker"], ["up"]):
        run = await csops(env, *command, cwd=tmp_path)
        assert run.exited(2), (command, run.code, run.err)
        assert run.err.startswith("csops: cannot open the context database mysql://csops:***@")
        assert "its driver is not installed" in run.err and "Traceback" not in run.err
        assert len(run.err.strip().splitlines()) == 1


async def test_csops_seeds_a_postgresql_database_named_by_a_plain_postgresql_url(
    postgres, tmp_path
):
    """The CLI in its own process, as a user runs it: `postgresql://` without a driver,
    the schema migrated by the command itself, the rows where the test's SQL finds them."""
    url = postgres.new_database()
    env = cli_env(tmp_path)
    env["CSOPS_DATABASE_URL"] = url.replace("postgresql+psycopg://", "postgresql://")
    summary = (await csops(env, "seed", "--accounts", "12", "--json", cwd=tmp_path)).json()

    engine = create_engine(url)
    with engine.connect() as conn:
        by_segment = dict(
            conn.execute(text("SELECT segment, count(*) FROM account GROUP BY segment")).all()
        )
        usage_rows = conn.execute(text("SELECT count(*) FROM usagedaily")).scalar_one()
        tickets = conn.execute(text("SELECT count(*) FROM supportticket")).scalar_one()
    assert summary["accounts"] == sum(by_segment.values()) == 12
    assert summary["by_segment"] == by_segment
    assert summary["usage_rows"] == usage_rows > 0
    assert summary["tickets"] == tickets
    assert _version(engine) == _head()
    engine.dispose()
    # A second seed finds the book there (the database persisted between processes).
    again = await csops(env, "seed", "--accounts", "12", cwd=tmp_path)
    assert again.exited(2) and "Traceback" not in again.err
