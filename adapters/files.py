"""Writing files that someone else may be reading (renewal packages, shadow reports)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_atomic(path: str | Path, text: str) -> None:
    """Write atomically (temp file + rename): a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
