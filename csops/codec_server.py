"""`csops codec-server`: Temporal's remote codec protocol for the Web UI
(`--ui-codec-endpoint`), so people see decrypted payloads in the browser while the
server only ever stores ciphertext.

POST /decode and /encode take and return `{"payloads": [...]}`, each payload in
protobuf's JSON form (`metadata` values and `data` base64). Only the UI's origin gets
an answer: the preflight and the POST carry CORS headers for it alone; a request from
any other origin, or with none, is refused with 403 and no CORS headers.

CORS keeps other web pages in a browser out; it is not authentication. Whoever can
reach the port and send the right Origin header can decrypt, so the server binds to
127.0.0.1 by default.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from adapters.payload_codec import AesGcmCodec, CodecError

log = logging.getLogger("csops.codec_server")

DEFAULT_PORT = 8081
# Big enough for a batch of the largest payloads the server accepts (256 KB each).
MAX_BODY_BYTES = 16 * 1024 * 1024
ALLOWED_HEADERS = "content-type, x-namespace, authorization"


def checked_origin(value: str, from_url: bool = False) -> str:
    """`scheme://host[:port]`, as a browser sends it in `Origin` (no path, no slash);
    `from_url`: the origin of a URL (CSOPS_UI_URL), whatever its path.

    Raises:
        ValueError: one sentence saying what is wrong.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an origin like http://localhost:8233")
    if not from_url and (parts.path not in ("", "/") or parts.query or parts.fragment):
        raise ValueError(f"{value!r} has a path; an origin is only scheme://host[:port]")
    return f"{parts.scheme}://{parts.netloc}"


def _cors(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def codec_app(codec: AesGcmCodec, ui_origin: str) -> web.Application:
    """The aiohttp app: /decode and /encode for `ui_origin` only."""

    def refused(request: web.Request) -> web.Response | None:
        origin = request.headers.get("Origin")
        if origin == ui_origin:
            return None
        log.warning(
            "refused %s %s from origin %s: only %s may call",
            request.method, request.path, origin or "(none)", ui_origin,
        )  # fmt: skip
        return web.Response(status=403, text=f"origin not allowed; only {ui_origin} may call\n")

    async def preflight(request: web.Request) -> web.Response:
        return refused(request) or web.Response(status=200, headers=_cors(ui_origin))

    async def convert(request: web.Request) -> web.Response:
        if (no := refused(request)) is not None:
            return no
        headers = _cors(ui_origin)
        try:
            payloads = json_format.Parse(await request.text(), Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as err:
            return web.Response(status=400, text=f"not a payloads JSON body: {err}\n", headers=headers)  # fmt: skip
        try:
            if request.match_info["op"] == "decode":
                await codec.decode_wrapper(payloads)
            else:
                await codec.encode_wrapper(payloads)
        except CodecError as err:
            return web.Response(status=400, text=f"{err}\n", headers=headers)
        # `payloads` is always there, even empty (MessageToJson would leave it out).
        body = {"payloads": [json_format.MessageToDict(p) for p in payloads.payloads]}
        return web.json_response(body, headers=headers)

    # The protocol looks only at the last part of the path: /decode, /x/y/decode, ...
    path = "/{prefix:(?:.*/)?}{op:decode|encode}"
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("OPTIONS", path, preflight)
    app.router.add_post(path, convert)
    return app


async def serve(codec: AesGcmCodec, ui_origin: str, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM; logs one line with the endpoint once it listens.

    Raises:
        OSError: the address cannot be bound (in use, say).
    """
    runner = web.AppRunner(codec_app(codec, ui_origin), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        shown = f"[{host}]" if ":" in host else host
        log.info(
            "codec server for the UI at %s (key ids %s; %s encrypts): "
            "start the UI with --ui-codec-endpoint http://%s:%d",
            ui_origin, ", ".join(codec.key_ids), codec.current, shown, port,
        )  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def start_codec_server(
    port: int, ui_origin: str, log_path: Path, host: str = "127.0.0.1"
) -> subprocess.Popen:
    """`csops codec-server` as a child process (for `csops up` and `csops server`),
    with this process's environment (and so its CSOPS_CODEC_KEYS)."""
    out = open(log_path, "ab")  # noqa: SIM115 (owned by the child)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "csops.cli",
            "codec-server",
            "--port",
            str(port),
            "--host",
            host,
            "--ui-origin",
            ui_origin,
        ],  # fmt: skip
        stdout=out,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
        start_new_session=True,  # stopped by whoever started it, not by a stray Ctrl-C
    )
