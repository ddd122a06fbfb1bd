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
