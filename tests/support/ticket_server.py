"""A local issue tracker's webhook for tests (stdlib http.server in a thread): it
records every POST (path, headers, JSON body) and answers each with the next
scripted status, by default 201 and a Linear-shaped created issue::

    with TrackerServer() as tracker:
        webhook = TicketWebhook(tracker.url, timeout=5)
        ...
        assert tracker.posts[0]["body"]["external_id"] == "nps:17"
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from csops.ticket_sink import answer_json


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tracker: TrackerServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.tracker._answer(
            {
                "path": self.path,
                "headers": dict(self.headers),
                "body": json.loads(raw or b"null"),
                "raw": raw,  # what a signature is computed over
            }
        )
        answer_json(self, status, body)


class TrackerServer:
    """Context manager on 127.0.0.1, an ephemeral port. `posts` holds every request
    received, in order; `created` the issues it answered 2xx for."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self._script: deque[tuple[int, dict[str, Any] | None]] = deque()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.url = ""  # the webhook's

    def script(self, status: int, body: dict[str, Any] | None = None) -> None:
        """Answer the next POST with this status and body (None: an error body for an
        error status, a created issue for a 2xx); unscripted POSTs get 201 and an issue."""
        with self._lock:
            self._script.append((status, body))

    def _answer(self, post: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.posts.append(post)
            status, body = self._script.popleft() if self._script else (201, None)
            if status >= 300:
                return status, body or {"error": f"scripted HTTP {status}"}
            number = len(self.created) + 1
            issue = body or {
                "id": f"issue-{number}",
                "identifier": f"CS-{number}",
                "url": f"{self.base_url}/issue/CS-{number}",
            }
            self.created.append({**issue, "request": post["body"]})
            return status, issue

    def __enter__(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.tracker = self
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{self.base_url}/hooks/issues"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
