"""The context-layer and workflow tests again, with every context database on the
PostgreSQL server of this run (tests/support/postgres.py): each test_pg_<name>.py
here imports the tests of test_<name>.py, and the fixtures below put their databases
on PostgreSQL, so the same assertions hold there. Tests read rows through SQLAlchemy
expressions or the ORM where SQL text would be one database's own (JSON, booleans,
dates read back). tests/test_data_import.py and tests/test_postgres.py need no rerun:
they run on this server themselves."""

from __future__ import annotations

import shutil
import sys

import pytest
import pytest_asyncio
import support.cli
from support.servers import start_dev_server, start_time_skipping_server

import context.db
from adapters.knowledge import KnowledgeBase
from csops.importing import import_demo_knowledge

# Kept apart from the patched names: the fixtures here call the real ones.
_make_engine = context.db.make_engine
_cli_env = support.cli.cli_env


# Servers of their own: the tests here start workflows and Schedules under the same
# business keys (accounts of the same seeded books) as their SQLite twins do.


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env():
    async with await start_dev_server() as env:
        yield env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ts_env():
    async with await start_time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def own_dev_env():
    """A dev server for one module, for the tests that read every waiting request
    (the inbox, the digests): a workflow another module left open on a queue no worker
    polls any more answers them only when the inbox's query timeout (5 s) ends."""
    async with await start_dev_server() as env:
        yield env


@pytest.fixture(scope="module", autouse=True)
def on_postgres(postgres):
    """SQLite URL -> the PostgreSQL database standing in for it. A test or helper that
    makes a SQLite context database gets a PostgreSQL one instead, and a `csops` run
    given that SQLite URL (support.cli.cli_env) is given the same PostgreSQL one."""
    databases: dict[str, str] = {}

    def stand_in(url: str) -> str:
        if url.startswith("sqlite") and url not in databases:
            databases[url] = postgres.new_database()
        return databases.get(url, url)

    def make_engine(url: str | None = None):
        return _make_engine(stand_in(url or context.db.default_database_url()))

    def cli_env(*args, **kwargs) -> dict:
        env = _cli_env(*args, **kwargs)
        env["CSOPS_DATABASE_URL"] = stand_in(env["CSOPS_DATABASE_URL"])
        return env

    swaps = (("make_engine", _make_engine, make_engine), ("cli_env", _cli_env, cli_env))
    _swap(swaps)
    try:
        yield databases
    finally:
        # Also in modules first imported meanwhile, which took the stand-ins.
        _swap((name, new, old) for name, old, new in swaps)


def _swap(swaps) -> None:
    """In every loaded module, the attribute `name` that is `old` becomes `new`."""
    swaps = list(swaps)
    for module in list(sys.modules.values()):
        for name, old, new in swaps:
            if getattr(module, name, None) is old:
                setattr(module, name, new)


@pytest.fixture(scope="module")
def knowledge_template(postgres, tmp_path_factory):
    """A PostgreSQL database holding the demo help centre (each test's database is a
    copy of it) and its retrieval index."""
    folder = tmp_path_factory.mktemp("pg-knowledge")
    url = postgres.new_database()
    engine = _make_engine(url)
    import_demo_knowledge(engine, KnowledgeBase(engine, folder / "index"))
    engine.dispose()
    (folder / "database").write_text(url.rsplit("/", 1)[1])
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def db(postgres, knowledge_template, on_postgres, tmp_path):
    """conftest's `db` on PostgreSQL: a copy of the knowledge template, standing in for
    the SQLite file that fixture makes (tmp_path/context.db), which `csops` runs use."""
    url = postgres.new_database((knowledge_template / "database").read_text())
    on_postgres[f"sqlite:///{tmp_path / 'context.db'}"] = url
    engine = _make_engine(url)
    yield engine
    engine.dispose()
