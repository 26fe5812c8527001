"""Shared fixtures: real Temporal servers (from the venv's binaries; a missing
binary fails the run), a fresh context database per test, and a worker factory.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlmodel import select
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from context.db import make_engine, session
from context.tables import Account, AuditEvent, Contact, OutboxMessage, SupportTicket
from contracts import search_attributes as sa
from contracts.human import DecideInput, DecideResult, HumanRequestView
from csops.devserver import find_binary
from worker import build_worker

INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env():
    """The real `temporal` dev server (in-memory), search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=pydantic_data_converter,
        ui=False,
    )
    async with env:
        yield env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ts_env():
    """The real time-skipping test server: thirty days pass in seconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    async with env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={k.name: INDEXED_TYPES[t] for k, t in sa.CLI_TYPES.items()},
            )
        )
        yield env


@pytest.fixture(scope="session", autouse=True)
def artifact_dir(tmp_path_factory):
    """Renewal packages written by test workers go here, never into the checkout."""
    path = tmp_path_factory.mktemp("artifacts")
    os.environ["CSOPS_ARTIFACT_DIR"] = str(path)
    return path


@pytest.fixture
def db(tmp_path):
    return make_engine(f"sqlite:///{tmp_path / 'context.db'}")


@pytest.fixture(scope="session")
def executor():
    with ThreadPoolExecutor(max_workers=8) as pool:
        yield pool


@pytest.fixture
def run_worker(db, executor):
    """`async with run_worker(env) as task_queue:` runs a worker on a fresh queue."""

    @asynccontextmanager
    async def _run(
        env: WorkflowEnvironment, provider=None, task_queue: str | None = None, **options
    ):
        task_queue = task_queue or f"tq-{uuid.uuid4()}"
        async with build_worker(env.client, task_queue, db, provider, executor, **options):
            yield task_queue

    return _run


# ---------------------------------------------------------------- data helpers

CSM, MANAGER, ON_CALL = "jane@acme.test", "maria@acme.test", "oncall@csops.test"


def add_account(
    engine,
    account_id: str,
    *,
    arr: float,
    segment: str = "smb",
    top_rank: int = 200,
    stage: str = "adopting",
    name: str | None = None,
) -> None:
    with session(engine) as s:
        s.add(
            Account(
                id=account_id,
                name=name or f"{account_id} Inc",
                arr=arr,
                segment=segment,
                plan="team",
                seats=50,
                stage=stage,
                top_rank=top_rank,
                signed_date=date(2025, 12, 1),
                renewal_date=date(2026, 12, 1),
                owner_csm=CSM,
                manager=MANAGER,
            )
        )
        s.add(
            Contact(
                account_id=account_id,
                name="Sam Lee",
                email=f"sam@{account_id}.example",
                role="Admin",
                is_primary=True,
            )
        )
        s.commit()


def add_ticket(engine, ticket_id: str, account_id: str, subject: str, body: str) -> None:
    with session(engine) as s:
        s.add(
            SupportTicket(
                id=ticket_id,
                account_id=account_id,
                subject=subject,
                body=body,
                requester_email=f"sam@{account_id}.example",
                created_at=datetime(2026, 11, 20, tzinfo=UTC),
            )
        )
        s.commit()


def outbox(engine, workflow_id: str | None = None) -> list[OutboxMessage]:
    with session(engine) as s:
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if workflow_id:
            q = q.where(OutboxMessage.workflow_id == workflow_id)
        return list(s.exec(q).all())


def audit(engine, workflow_id: str) -> list[AuditEvent]:
    with session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.workflow_id == workflow_id)
                .order_by(AuditEvent.id)
            ).all()
        )


async def wait_for_requests(handle: WorkflowHandle, count: int = 1, timeout_s: float = 20):
    """Poll the `human_requests` query until `count` requests are open."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            open_requests = await handle.query("human_requests", result_type=list[HumanRequestView])
            if len(open_requests) >= count:
                return open_requests
        except Exception:  # not started yet: the query has no worker answer so far
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{handle.id}: no {count} open request(s) within {timeout_s}s")
        await asyncio.sleep(0.1)


async def start_escalation(
    engine, client: Client, task_queue: str, ticket_id: str
) -> WorkflowHandle:
    """Start the escalation the way `csops ticket` does (same launch code)."""
    from adapters.launcher import start_escalation as launch
    from context.queries import account_facts

    with session(engine) as s:
        row = s.get(SupportTicket, ticket_id)
        account = account_facts(s, row.account_id)
    started = await launch(client, task_queue, ticket_id, row.subject, account)
    assert started.started, f"{ticket_id} was already running"
    return started.handle


def new_ticket_id() -> str:
    """Ticket ids unique across the session's shared server (ids are business keys)."""
    return f"T-{uuid.uuid4().hex[:8]}"


async def decide(handle: WorkflowHandle, **payload) -> DecideResult:
    """The `decide` update, as the CLI sends it."""
    return await handle.execute_update("decide", DecideInput(**payload), result_type=DecideResult)


async def current_details(handle: WorkflowHandle) -> str:
    """The Markdown the Temporal UI shows as the workflow's current details."""
    from temporalio.api.sdk.v1 import WorkflowMetadata

    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def eventually(probe, timeout_s: float = 15, holds=bool):
    """Poll `probe()` (plain or async) until `holds(value)`; fail after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if holds(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {value!r}"[:500])
        await asyncio.sleep(0.05)


HISTORY_DIR = Path(__file__).parent / "histories"


async def replay_and_maybe_record(handle: WorkflowHandle, name: str) -> None:
    """Replay the finished run's history against today's workflow code; with
    CSOPS_RECORD_HISTORIES=1 also save it under tests/histories/ for the replay test."""
    from worker import WORKFLOWS

    history = await handle.fetch_history()
    await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history
    )
    if os.environ.get("CSOPS_RECORD_HISTORIES") == "1":
        HISTORY_DIR.mkdir(exist_ok=True)
        (HISTORY_DIR / f"{name}.json").write_text(history.to_json())


# ---------------------------------------------------------------- web UI (browser test)


def free_port() -> int:
    """A TCP port nothing listens on right now (for the UI of `ui_env`)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_for_port(host: str, port: int, timeout_s: float = 30) -> None:
    """Poll until something accepts TCP connections on host:port."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"nothing listens on {host}:{port} after {timeout_s}s"
                ) from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ui_env():
    """A second real `temporal` dev server, this one with the Temporal Web UI
    (`dev_env` runs without it): yields (env, ui_url)."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=pydantic_data_converter,
        ui=True,
        ui_port=ui_port,
    )
    async with env:
        await wait_for_port("127.0.0.1", ui_port)
        yield env, f"http://127.0.0.1:{ui_port}"
