"""`csops` as a user runs it: a real subprocess, awaited without blocking the event
loop (the worker of the test runs in that loop)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from support.polling import eventually


@dataclass
class Run:
    code: int
    out: str
    err: str

    def exited(self, code: int) -> bool:
        return self.code == code

    def json(self):
        assert self.exited(0), f"exit {self.code}: {self.err}"
        return json.loads(self.out)


def cli_env(tmp_path: Path, address: str = "127.0.0.1:1", task_queue: str = "unused") -> dict:
    """The environment of a `csops` run: this server and queue, a database in tmp_path."""
    env = dict(os.environ)
    env.update(
        TEMPORAL_ADDRESS=address,
        CSOPS_TASK_QUEUE=task_queue,
        CSOPS_DATABASE_URL=f"sqlite:///{tmp_path / 'context.db'}",
        NO_COLOR="1",
        COLUMNS="200",  # help text is not wrapped mid-word
    )
    env.pop("OPENAI_API_KEY", None)
    return env


def target(env) -> str:
    """host:port of a `WorkflowEnvironment`'s server, for `cli_env`."""
    return env.client.service_client.config.target_host


async def csops(env: dict, *args: str, cwd: Path, timeout_s: float = 30) -> Run:
    """`csops ARGS...` as a subprocess, awaited without blocking the worker's loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "csops.cli",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"csops {' '.join(args)} did not finish in {timeout_s}s") from None
    return Run(proc.returncode, out.decode(), err.decode())


async def poll_json(env: dict, *args: str, cwd: Path, holds, timeout_s: float = 20):
    """Re-run a --json command until `holds(data)` (visibility is eventually consistent)."""

    async def data():
        return (await csops(env, *args, cwd=cwd)).json()

    return await eventually(
        data, timeout_s, holds=holds, every_s=0.3, what=f"csops {' '.join(args)}: condition"
    )
