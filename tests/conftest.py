"""Fixtures only: real Temporal servers (from the venv's binaries; a missing binary
fails the run), a fresh context database per test, and a worker factory. The helpers
tests share live in `support/`.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from support.data import ON_CALL
from support.net import free_port, wait_for_port
from support.postgres import PostgresServer
from support.processes import Processes
from support.servers import start_dev_server, start_time_skipping_server
from support.smtp import Collector
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.deliveries import run_outbox
from adapters.knowledge import KnowledgeBase
from adapters.settings import load_settings
from context.db import make_engine
from contracts import search_attributes as sa
from contracts.converter import DATA_CONVERTER
from csops.devserver import DEV_SERVER_TUNING, find_binary
from csops.importing import import_demo_knowledge
from worker import STRICT_WORKFLOW_RUNNER, build_worker

SHUTDOWN_LIMIT_S = 60


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env():
    """The real `temporal` dev server (in-memory), search attributes registered,
    with the flags `csops server` uses."""
    async with await start_dev_server() as env:
        yield env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ts_env():
    """The real time-skipping test server: thirty days pass in seconds."""
    async with await start_time_skipping_server() as env:
        yield env


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server of this run (tests/support/postgres.py)."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def artifact_dir(tmp_path_factory):
    """Renewal packages written by test workers go here, never into the checkout."""
    path = tmp_path_factory.mktemp("artifacts")
    os.environ["CSOPS_ARTIFACT_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def knowledge_template(tmp_path_factory):
    """A context database holding the demo help centre and solved tickets, and
    their retrieval index, built once: each test's database starts as a copy."""
    folder = tmp_path_factory.mktemp("knowledge")
    engine = make_engine(f"sqlite:///{folder / 'template.db'}")
    import_demo_knowledge(engine, KnowledgeBase(engine, folder / "index"))
    engine.dispose()
    return folder


@pytest.fixture
def db(tmp_path, knowledge_template):
    shutil.copyfile(knowledge_template / "template.db", tmp_path / "context.db")
    return make_engine(f"sqlite:///{tmp_path / 'context.db'}")


@pytest.fixture
def knowledge(db, knowledge_template):
    """This test's knowledge base: the demo help centre (index shared, read-only)."""
    return KnowledgeBase(db, knowledge_template / "index")


@pytest.fixture(scope="session")
def executor():
    with ThreadPoolExecutor(max_workers=8) as pool:
        yield pool


@pytest.fixture
def run_worker(db, executor, knowledge, tmp_path):
    """`async with run_worker(env) as task_queue:` runs a worker on a fresh queue, with
    the outbox dispatcher `csops worker` runs (delivering to a maildir in tmp_path,
    or to `delivery`) telling workflows what became of their messages; `client=`
    runs it with another client of that server (another data converter),
    `settings=` with these settings changed (e.g. another policy folder)."""

    @asynccontextmanager
    async def _run(
        env: WorkflowEnvironment,
        provider=None,
        task_queue: str | None = None,
        delivery: str | None = None,
        client: Client | None = None,
        settings: dict[str, Any] | None = None,
        **options,
    ):
        task_queue = task_queue or f"tq-{uuid.uuid4()}"
        worker_settings = load_settings().model_copy(
            update={"knowledge_dir": knowledge.index.folder, **(settings or {})}
        )
        # In the sandbox that re-imports workflow code, so it checks its determinism.
        worker = build_worker(
            client or env.client, task_queue, db, provider, executor, worker_settings,
            STRICT_WORKFLOW_RUNNER, **options,
        )  # fmt: skip
        running = asyncio.create_task(worker.run())
        dispatcher = asyncio.create_task(
            run_outbox(
                db,
                client or env.client,
                delivery or f"maildir:{tmp_path / 'maildir'}",
                ON_CALL,
                interval_s=0.2,
            )
        )
        try:
            yield task_queue
        finally:
            dispatcher.cancel()
            await _shut_down(worker, running)

    return _run


async def _shut_down(worker: Worker, running: asyncio.Task) -> None:
    """A worker that cannot stop within a minute fails the test with the stacks of
    every asyncio task, instead of hanging the run."""
    try:
        await asyncio.wait_for(worker.shutdown(), SHUTDOWN_LIMIT_S)
        await running
    except TimeoutError:
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(file=stacks)
        pytest.fail(f"the worker did not shut down in {SHUTDOWN_LIMIT_S} s:\n{stacks.getvalue()}")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ui_env():
    """A second real `temporal` dev server, this one with the Temporal Web UI
    (`dev_env` runs without it): yields (env, ui_url)."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        dev_server_extra_args=DEV_SERVER_TUNING,
        search_attributes=sa.ALL,
        data_converter=DATA_CONVERTER,
        ui=True,
        ui_port=ui_port,
    )
    async with env:
        await wait_for_port("127.0.0.1", ui_port)
        yield env, f"http://127.0.0.1:{ui_port}"


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free port: yields (collector, port)."""
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def processes(tmp_path):
    """Real subprocesses (dev server, `csops worker`) in their own process groups, logs
    in tmp_path/logs; every one still running is killed when the test ends."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    spawned = Processes(log_dir)
    try:
        yield spawned
    finally:
        spawned.kill_all()
