"""Helpers of the events websocket tests: read messages until one matches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from tornado.websocket import WebSocketClientConnection


async def next_message(
    ws: WebSocketClientConnection,
    match: Callable[[dict[str, Any]], bool] = lambda m: True,
    timeout: float = 30.0,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The next message *match* accepts (every one read goes into *seen*)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"no matching event within {timeout:g} s; saw {seen}")
        try:
            raw = await asyncio.wait_for(ws.read_message(), left)
        except asyncio.TimeoutError:
            raise AssertionError(f"no matching event within {timeout:g} s; saw {seen}") from None
        if raw is None:
            raise AssertionError(f"events websocket closed; saw {seen}")
        msg = json.loads(raw)
        if seen is not None:
            seen.append(msg)
        if match(msg):
            return msg


def about(name: str, *types: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("name") == name and (not types or m["type"] in types)


class StalledClient:
    """A websocket client that stops reading after the handshake.

    Tornado's and browsers' clients read eagerly into their own queues, so a
    "slow reader" built on them never pushes back. This one is a plain socket
    with a 4 KiB receive buffer whose reader stops after 2 KiB: the server's
    writes to it really stall. :meth:`read_texts` later drains what arrived.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str, headers: dict[str, str]) -> StalledClient:
        import base64
        import os
        import socket

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
            "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]  # fmt: skip
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status = await reader.readline()
        assert b" 101 " in status, status
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    async def read_texts(self, quiet: float = 1.5) -> list[dict[str, Any]]:
        """Every text message that arrives until none came for *quiet* s."""
        out = []
        while True:
            try:
                head = await asyncio.wait_for(self.reader.readexactly(2), quiet)
            except asyncio.TimeoutError:
                return out
            opcode, size = head[0] & 0x0F, head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(size)
            if opcode == 1:
                out.append(json.loads(payload))
            elif opcode == 8:
                return out

    def close(self) -> None:
        self.writer.close()


async def events_and_service(jp_ws_fetch: Any, jp_serverapp: Any) -> tuple[Any, Any]:
    """An events websocket past its snapshot, and the server's event service behind it
    (made by that first client)."""
    ws = await jp_ws_fetch("kernelswitch", "api", "events")
    await next_message(ws, lambda m: m["type"] == "snapshot")
    return ws, jp_serverapp.web_app.settings["kernelswitch_events"]
