"""A scripted, OpenAI-compatible HTTP server for tests (stdlib only).

Tests drive the real ``openai`` client against it, so request encoding, response
parsing, and the status-code -> exception mapping are exercised for real::

    with FakeOpenAI() as fake:
        fake.script(json_answer({"ok": True}), http_error(429, retry_after=1))
        client = openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
        ...
        assert fake.requests[0]["body"]["model"] == "test-model"
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from adapters.openai_provider import OpenAIProvider

__all__ = ["FakeOpenAI", "Response", "http_error", "json_answer"]

_ids = itertools.count(1)

# The `type` the real API reports for common statuses; the client ignores it, but a
# provider under test may log or branch on it.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True)
class Response:
    """One canned HTTP answer: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0  # how long the server waits before answering (a timeout test)


def json_answer(
    obj: dict[str, Any] | str,
    *,
    model: str = "test-model",
    prompt_tokens: int = 50,
    completion_tokens: int = 20,
) -> Response:
    """A 200 chat.completion whose message content is ``json.dumps(obj)``.

    A ``str`` is sent verbatim, so tests can feed the provider invalid JSON.
    """
    content = obj if isinstance(obj, str) else json.dumps(obj)
    return Response(
        200,
        {
            "id": f"chatcmpl-test{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": None,
        },
    )


def http_error(
    status: int, message: str = "scripted error", *, retry_after: float | None = None
) -> Response:
    """An OpenAI-shaped error; ``retry_after`` (seconds) sets the Retry-After header."""
    err_type = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error")
    code = "rate_limit_exceeded" if status == 429 else None
    body = {"error": {"message": message, "type": err_type, "param": None, "code": code}}
    headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
    return Response(status, body, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the client's keep-alive pool is exercised as in production.
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        self.server.fake._record(self, None)
        if self.path.rstrip("/") == "/v1/models":
            model = {"id": "test-model", "object": "model", "created": 0, "owned_by": "csops"}
            self._send(Response(200, {"object": "list", "data": [model]}))
        else:
            self._send(http_error(404, f"unknown path {self.path}"))

    def do_POST(self) -> None:
        # Always drain the body, or a kept-alive connection would be left mid-request.
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        fake = self.server.fake
        fake._record(self, body)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(http_error(404, f"unknown path {self.path}"))
        elif not isinstance(body, dict):
            self._send(http_error(400, "request body is not a JSON object"))
        else:
            self._send(fake._next_response())

    def _send(self, response: Response) -> None:
        if response.delay_s:
            time.sleep(response.delay_s)
        payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class FakeOpenAI:
    """Context manager; starts on 127.0.0.1 with an ephemeral port in a daemon thread.

    ``requests`` holds one dict per received request, in order:
    ``{"method", "path", "body", "authorization"}`` (``body`` is parsed JSON, or None
    for GET). Responses queued with :meth:`script` are consumed one per
    ``POST /v1/chat/completions``; an unscripted call gets a 500 so it fails loudly.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Response] = deque()
        self._lock = threading.Lock()
        # Open connections and the handler thread serving each, so __exit__ can end them.
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def script(self, *responses: Response) -> None:
        """Queue responses, consumed one per chat-completions call."""
        with self._lock:
            self._queue.extend(responses)

    @property
    def pending(self) -> int:
        """Scripted responses not yet consumed (lets a test assert all were used)."""
        with self._lock:
            return len(self._queue)

    def __enter__(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        # A short poll interval because shutdown() waits for the next poll: the default
        # 0.5 s would be paid by every test that uses the server.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"FakeOpenAI:{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        # Handler threads sit blocked reading idle keep-alive connections, and
        # server_close() does not join daemon threads: close our end and join them
        # here, so no thread outlives the context however long the client lives.
        with self._lock:
            conns = dict(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client already closed it
        for handler_thread in conns.values():
            handler_thread.join(timeout=5)
        self._server.server_close()
        self._thread.join()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns[conn] = threading.current_thread()
            else:
                self._conns.pop(conn, None)

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        entry = {
            "method": handler.command,
            "path": handler.path,
            "body": body,
            "authorization": handler.headers.get("Authorization"),
        }
        with self._lock:
            self.requests.append(entry)

    def _next_response(self) -> Response:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return http_error(500, "FakeOpenAI: no scripted response for this call")


def provider_for(fake: FakeOpenAI, timeout_s: float = 5) -> OpenAIProvider:
    """csops' real OpenAI provider, pointed at the fake server."""
    return OpenAIProvider(
        api_key="test-key", base_url=fake.base_url, model="test-model", timeout_s=timeout_s
    )
