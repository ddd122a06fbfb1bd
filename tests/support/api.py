"""A small REST client for tests that talk to a real server from several threads."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .jupyter import RunningServer


@dataclass
class Answer:
    status: int
    body: Any  # parsed JSON (None when the body is empty or not JSON)
    seconds: float  # how long this one request took
    raw: bytes

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.raw[:500]
        return self.body["error"]


def call(
    server: RunningServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    timeout: float = 120,
) -> Answer:
    """``METHOD kernelswitch/api/PATH`` with the token; errors are answers, not raises."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is None and method in ("POST", "PUT", "PATCH"):
        data = b"{}"
    req = urllib.request.Request(f"{server.url}kernelswitch/api/{path}", data=data, method=method)
    req.add_header("Authorization", f"token {server.token}")
    req.add_header("Content-Type", "application/json")
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, content = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, content = e.code, e.read()
    seconds = time.monotonic() - t0
    try:
        parsed = json.loads(content) if content else None
    except ValueError:
        parsed = None
    return Answer(status, parsed, seconds, content)
