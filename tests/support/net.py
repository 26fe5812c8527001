"""TCP ports: one nothing listens on, and waiting until something does."""

from __future__ import annotations

import asyncio
import socket

from support.polling import eventually


def free_port() -> int:
    """A TCP port nothing listens on right now (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_for_port(host: str, port: int, timeout_s: float = 30) -> None:
    """Poll until something accepts TCP connections on host:port."""

    async def accepts() -> bool:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()
        return True

    await eventually(
        accepts,
        timeout_s,
        every_s=0.1,
        ignoring=(OSError,),
        what=f"something listening on {host}:{port}",
    )
