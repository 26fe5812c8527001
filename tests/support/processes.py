"""Real processes a test starts, kills and restarts: the `temporal` dev server on its
SQLite file and `csops worker`, each in its own process group with its output in a
log file. `Processes` remembers every one, so a fixture's finalizer can kill them all
whatever the test did."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from adapters.temporal_client import wait_until_reachable
from csops.devserver import dev_server_command, find_binary
from support.cli import cli_env
from support.net import free_port
from support.polling import eventually

STOP_TIMEOUT_S = 20


@dataclass
class Child:
    """One long-running process: started again with the same command after a kill."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    cwd: Path
    log: Path
    popen: subprocess.Popen | None = None
    pids: list[int] = field(default_factory=list)  # every pid it has had, oldest first

    def start(self) -> Child:
        assert not self.alive, f"{self.name} is already running (pid {self.pid})"
        with open(self.log, "ab") as out:
            out.write(f"\n===== {self.name} start: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=dict(self.env),
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one
            )
        self.pids.append(self.popen.pid)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self, sig: signal.Signals = signal.SIGKILL) -> int | None:
        """Send `sig` to the whole process group and reap it (SIGKILL after
        STOP_TIMEOUT_S if a gentler signal is not enough); returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with open(self.log, "ab") as out:
                out.write(f"\n===== {self.name} pid {self.pid}: {sig.name}\n".encode())
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass  # the group is gone already
        try:
            return self.popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            return self.popen.wait()

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Every process a test spawned; `kill_all()` is the fixture's finalizer."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path) -> Child:
        child = Child(name, argv, env, cwd, self.log_dir / f"{name}.log")
        self.children.append(child)
        return child.start()

    def kill_all(self) -> None:
        for child in self.children:
            child.stop(signal.SIGKILL)

    def logs(self, lines: int = 25) -> str:
        """The end of every process's log, for a failure message."""
        return "\n".join(f"--- {c.name} ({c.log}):\n{c.tail(lines)}" for c in self.children)


@dataclass
class DevServer:
    """`temporal server start-dev` as csops runs it (csops.devserver: SQLite file,
    search attributes, DEV_SERVER_TUNING), on a fixed port so it can be restarted
    on the same file and address."""

    child: Child
    port: int
    db_file: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def client(self, timeout_s: float = 60) -> Client:
        """A client once the server answers (the namespace and visibility too)."""
        return await wait_until_reachable(self.address, "default", (), timeout_s=timeout_s)

    async def restart(self, sig: signal.Signals, down_s: float = 0) -> Client:
        """Stop it with `sig`, leave it down `down_s`, start it again on the same
        SQLite file and port."""
        self.child.stop(sig)
        await asyncio.sleep(down_s)
        self.child.start()
        return await self.client()


BIND_ATTEMPTS = 3


def start_dev_server(processes: Processes, data_dir: Path) -> DevServer:
    """The server on a free port, listening. A port found free can be taken before the
    server binds it (another run's server picking its own ports): it then exits at
    once, and starts again on another port."""
    for _ in range(BIND_ATTEMPTS):
        port = free_port()
        # No Web UI: nothing here looks at it, and its port would be one more to collide.
        argv = dev_server_command(data_dir, port, ui_port=None)
        child = processes.spawn("temporal", argv, os.environ, data_dir)
        deadline = time.monotonic() + 60
        while child.alive and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return DevServer(child, port, data_dir / "temporal.db")
            except OSError:
                time.sleep(0.1)
        if child.alive:
            break  # running but not listening in a minute: no other port will help
    raise AssertionError(f"the dev server did not start:\n{child.tail()}")


def worker_env(
    tmp_path: Path, address: str, *, knowledge_dir: Path, delivery: str, task_queue: str = ""
) -> dict[str, str]:
    """`csops worker`'s environment: this server, a fresh task queue, the context
    database in tmp_path (see `cli_env`), the knowledge index, renewal packages in
    tmp_path and outbox delivery to `delivery` (e.g. smtp://127.0.0.1:PORT)."""
    env = cli_env(tmp_path, address, task_queue or f"tq-{uuid.uuid4()}")
    env.update(
        CSOPS_OUTBOX_DELIVERY=delivery,
        CSOPS_KNOWLEDGE_DIR=str(knowledge_dir),
        CSOPS_ARTIFACT_DIR=str(tmp_path / "packages"),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_worker(processes: Processes, name: str, env: Mapping[str, str], cwd: Path) -> Child:
    """`csops worker` as a user runs it (the console script installed in the venv)."""
    return processes.spawn(name, [find_binary("csops"), "worker"], env, cwd)


async def pollers(client: Client, task_queue: str) -> set[str]:
    """Identities of the workers that polled the workflow task queue lately
    (the Python SDK's default identity is `pid@host`)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {p.identity for p in response.pollers}


async def wait_until_polling(
    client: Client, task_queue: str, worker: Child, timeout_s: float = 60
) -> None:
    """Until this very process (its current pid) polls the task queue; a worker that
    exits first fails at once with the end of its log."""

    async def polling() -> bool:
        assert worker.alive, (
            f"{worker.name} exited with {worker.exit_code} before polling:\n{worker.tail()}"
        )
        return any(i.startswith(f"{worker.pid}@") for i in await pollers(client, task_queue))

    await eventually(
        polling,
        timeout_s,
        every_s=0.2,
        ignoring=(RPCError,),  # a server that is starting up
        what=f"{worker.name} (pid {worker.pid}) polling",
    )
