"""`csops up`'s stand-in for an issue tracker: the webhook the Risk agent opens
internal tickets on (`CSOPS_TICKET_WEBHOOK_URL`), writing each ticket as a JSON file
under the state folder so the demo shows what a tracker would have received.

The standard library's `http.server` in a thread, like the artifact server: one
small POST handler, no dependency. It answers like a tracker (201 with the issue's
`id` and `url`), and a POST with an `Idempotency-Key` it has seen returns the
ticket it made then instead of a second one.
"""

from __future__ import annotations

import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEFAULT_PORT = 8235
MAX_BODY = 1_000_000  # bytes: an issue is a few kilobytes
PREFIX = "CSOPS"


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)[:100]


def answer_json(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
    """Answer the request with `body` as JSON, as a tracker's API does."""
    payload = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sink: TicketSink


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # `csops up` keeps the terminal for what waits for a human

    def _answer(self, status: HTTPStatus, body: dict) -> None:
        answer_json(self, status, body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "issue too large"})
            return
        try:
            issue = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            issue = None
        if not isinstance(issue, dict) or not issue.get("title"):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "a JSON issue with a title"})
            return
        status, created = self.server.sink.store(issue, self.headers.get("Idempotency-Key"))
        self._answer(status, created)


class TicketSink:
    """A running sink: tickets land in `folder` as `CSOPS-<n>.json`; `url` is the
    webhook to configure."""

    def __init__(self, folder: Path, port: int = DEFAULT_PORT) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.sink = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/issues"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="ticket-sink", daemon=True
        )
        self._thread.start()

    def store(self, issue: dict, key: str | None) -> tuple[HTTPStatus, dict]:
        """Write the ticket (or find the one made for `key`); the tracker's answer."""
        with self._lock:
            seen = self.folder / f".key-{_safe(key)}" if key else None
            if seen is not None and seen.exists():
                return HTTPStatus.OK, json.loads(seen.read_text())
            number = len(list(self.folder.glob(f"{PREFIX}-*.json"))) + 1
            ticket_id = f"{PREFIX}-{number}"
            path = self.folder / f"{ticket_id}.json"
            created = {"id": ticket_id, "url": path.resolve().as_uri()}
            path.write_text(json.dumps({**issue, **created}, indent=2, ensure_ascii=False))
            if seen is not None:
                seen.write_text(json.dumps(created))
            return HTTPStatus.CREATED, created

    def tickets(self) -> list[Path]:
        return sorted(self.folder.glob(f"{PREFIX}-*.json"))

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
