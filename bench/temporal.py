"""What the Temporal benchmarks share: a dev server of their own (in memory, or on
a SQLite file), and the two workers under comparison, each in its own process so
its CPU and memory are its own: `csops worker` exactly as a user runs it, and the
raw baseline (`bench/raw_worker.py`) with the same SDK settings.

    async with dev_server(folder) as server:          # in memory
        client = server.client
        csops = start_csops_worker(folder, server.address, "csops")
        raw = start_raw_worker(folder, server.address, "raw")
        await wait_until_polling(client, "csops", csops)
        ...
        csops.rss_kib(); csops.stop()
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from adapters.temporal_client import wait_until_reachable
from csops.devserver import dev_server_command, find_binary

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    """A child process in its own process group, its output in `log`."""

    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_kib(self) -> int:
        """Resident memory now, from /proc (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"{self.name} (pid {self.pid}) has no VmRSS; has it exited?")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM to the group (a worker shuts down cleanly), SIGKILL if it lingers."""
        if self.popen.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()


def process_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every process a benchmark starts, on both sides: as on a
    user's machine, with Python's bytecode cache. This machine sets
    PYTHONDONTWRITEBYTECODE=1, under which each `csops` process (the CLI, the
    worker, and each workflow sandbox re-importing workflow code) would compile
    csops's own modules from source again, where a user's Python reads them from
    `__pycache__` (pip compiled site-packages at install, on both sides)."""
    env = {**os.environ, **(extra or {}), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def spawn(name: str, argv: list[str], log: Path, env: Mapping[str, str] | None = None) -> Process:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=process_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, popen, log)


@dataclass
class Server:
    address: str
    client: Client
    process: Process


@asynccontextmanager
async def dev_server(folder: Path, sqlite: bool = False) -> AsyncIterator[Server]:
    """A fresh `temporal server start-dev` with csops's flags and search attributes
    (the raw side runs on the same server): in memory, or on a SQLite file in
    `folder`; no Web UI. Stopped on exit."""
    port = free_port()
    argv = dev_server_command(folder / "temporal" if sqlite else None, port, ui_port=None)
    process = spawn("temporal", argv, folder / "temporal.log")
    try:
        address = f"127.0.0.1:{port}"
        client = await wait_until_reachable(address, "default", (), timeout_s=60)
        yield Server(address, client, process)
    finally:
        process.stop()


def csops_env(folder: Path, address: str, task_queue: str) -> dict[str, str]:
    """`csops`'s environment for a benchmark: this server and queue, the context
    database, knowledge index, packages and maildir outbox all under `folder`."""
    return {
        "TEMPORAL_ADDRESS": address,
        "CSOPS_TASK_QUEUE": task_queue,
        "CSOPS_DATABASE_URL": f"sqlite:///{folder / 'context.db'}",
        "CSOPS_KNOWLEDGE_DIR": str(folder / "knowledge"),
        "CSOPS_ARTIFACT_DIR": str(folder / "packages"),
        "CSOPS_OUTBOX_DELIVERY": f"maildir:{folder / 'maildir'}",
        "OPENAI_API_KEY": "",  # the offline engine, whatever the caller's shell says
    }


def start_csops_worker(folder: Path, address: str, task_queue: str) -> Process:
    """`csops worker` as a user runs it (the console script in the venv)."""
    return spawn(
        "csops worker",
        [find_binary("csops"), "worker"],
        folder / f"worker-{task_queue}.log",
        csops_env(folder, address, task_queue),
    )


def start_raw_worker(folder: Path, address: str, task_queue: str) -> Process:
    return spawn(
        "raw worker",
        [sys.executable, "-m", "bench.raw_worker", address, task_queue],
        folder / f"raw-worker-{task_queue}.log",
    )


async def wait_until_polling(
    client: Client, task_queue: str, worker: Process, timeout_s: float = 60
) -> None:
    """Until this worker process polls both the workflow and the activity queue."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    while True:
        worker.check_alive()
        polling = []
        for kind in kinds:
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(
                        name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
                    ),
                    task_queue_type=kind,
                )
            )
            polling.append(any(p.identity.startswith(f"{worker.pid}@") for p in response.pollers))
        if all(polling):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"{worker.name} did not poll {task_queue!r} in {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


def cpu_s(process: Process) -> float:
    """CPU seconds (user + system) the process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
