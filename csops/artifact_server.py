"""The renewal packages, served read-only to a browser on this machine.

The artifact folder holds static HTML and Markdown, so the standard library's
`http.server` in a thread is enough (a web framework would add a dependency and
nothing else). GET and HEAD only; every other method is refused with 405. Paths
resolve inside the folder or are not found: `..` segments are dropped by
`SimpleHTTPRequestHandler.translate_path`, and a symlink pointing out is refused
here. The folder listing stays on: it shows only the package names under it.
"""

from __future__ import annotations

import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PORT = 8234


class _ReadOnlyHandler(SimpleHTTPRequestHandler):
    def send_head(self):
        root = Path(self.directory).resolve()
        full = Path(self.translate_path(self.path)).resolve()
        if full != root and root not in full.parents:  # a symlink pointing out
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        return super().send_head()

    def _refuse(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass  # `csops up` keeps the terminal for what waits for a human


class ArtifactServer:
    """A running server; `url` is where a browser finds the folder's root."""

    def __init__(self, directory: Path, host: str, port: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        handler = partial(_ReadOnlyHandler, directory=str(directory.resolve()))
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="artifact-server", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def serve_artifacts(directory: Path, base_url: str, port: int | None = None) -> ArtifactServer:
    """Serve `directory` on 127.0.0.1, on `port` or else the port of `base_url`
    (CSOPS_ARTIFACT_URL; 8234 when it names none). Port 0 picks a free one.

    Raises:
        OSError: the port is taken.
    """
    chosen = port if port is not None else (urlsplit(base_url).port or DEFAULT_PORT)
    return ArtifactServer(directory, "127.0.0.1", chosen)
