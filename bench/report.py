"""Writing a run's results: `results.json` (one entry per benchmark) and
`RESULTS.md` (the figures, the command, the date and the machine)."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.outcome import Outcome

# The libraries whose versions move the figures.
LIBRARIES = ("csops", "bm25s", "PyStemmer", "numpy", "SQLAlchemy", "sqlmodel", "anyascii")


def machine() -> dict[str, Any]:
    """Cores, RAM, CPU model, OS, Python and library versions of this machine."""
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cpu": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


def _cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (Linux); platform's guess elsewhere."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def write(outcomes: list[Outcome], folder: Path, command: str) -> None:
    """Write results.json and RESULTS.md into `folder`."""
    run = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    results = {**run, "benchmarks": [o.entry() for o in outcomes]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (folder / "RESULTS.md").write_text(_markdown(outcomes, run))


def _markdown(outcomes: list[Outcome], run: dict[str, Any]) -> str:
    m = run["machine"]
    libraries = ", ".join(f"{name} {v}" for name, v in m["libraries"].items())
    rows = "\n".join(
        f"| {o.name} | {o.metric} | {o.raw:.2f} | {o.csops:.2f} | {o.ratio:.2f} | "
        f"{o.met_when.replace('target', f'{o.target:g}')} | {'yes' if o.met else 'no'} |"
        for o in outcomes
    )
    sections = "\n".join(o.markdown for o in outcomes)
    return f"""\
# csops benchmarks

Written by `{run["command"]}` on {run["date"]}. Absolute times drift on shared
machines; each figure is also given as a ratio csops/raw measured in the same run.

Machine: {m["cores"]} cores, {m["ram_gib"]} GiB RAM, {m["cpu"]}; {m["os"]}.
Python {m["python"]}; {libraries}.

| benchmark | metric | raw | csops | csops/raw | target | met |
| --- | --- | --- | --- | --- | --- | --- |
{rows}

{sections}"""
