"""A small REST client for kernel-side code (magics, widgets) and the CLI.

The kernel finds its server from ``KERNELSWITCH_URL`` / ``KERNELSWITCH_TOKEN``
or, failing that, from the running servers that jupyter_server records in the
runtime dir, preferring its parent process (the server that launched it).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import KernelSwitchError


class ServerUnreachable(KernelSwitchError):
    code = "server_unreachable"
    http_status = 503


class APIError(KernelSwitchError):
    """The server answered with an error; ``code`` is the server's code."""

    def __init__(self, message: str, *, code: str, status: int, details: Any = None) -> None:
        super().__init__(message, details=details if isinstance(details, dict) else None)
        self.code = code
        self.http_status = status


@dataclass(frozen=True)
class Server:
    url: str  # base URL ending in '/'
    token: str


def find_server() -> Server:
    url = os.environ.get("KERNELSWITCH_URL")
    if url:
        return Server(
            url if url.endswith("/") else url + "/", os.environ.get("KERNELSWITCH_TOKEN", "")
        )
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError as e:  # pragma: no cover - jupyter_server is a dependency
        raise ServerUnreachable("jupyter_server is not installed in this environment") from e
    servers = list(list_running_servers())
    # A kernel is a child of the server that launched it: prefer that one.
    servers.sort(key=lambda info: info.get("pid") != os.getppid())
    for info in servers:
        return Server(info["url"], info.get("token", ""))
    raise ServerUnreachable(
        "no running Jupyter server with kernelswitch was found; start one with "
        "`jupyter lab` (or set KERNELSWITCH_URL and KERNELSWITCH_TOKEN)"
    )


def request(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    server: Server | None = None,
    timeout: float = 300.0,
) -> Any:
    """Call ``{base_url}kernelswitch/api/{path}``; return parsed JSON (None for 204)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    raw, _ = fetch(method, path, data, headers, server=server, timeout=timeout)
    return json.loads(raw) if raw else None


def stream(
    method: str,
    path: str,
    body: dict[str, Any],
    *,
    server: Server | None = None,
    timeout: float = 900.0,
) -> Iterator[dict[str, Any]]:
    """The JSON lines of an ``application/x-ndjson`` answer, as they arrive
    (``POST envs/align`` streams pip's output this way)."""
    srv = server or find_server()
    req = urllib.request.Request(
        f"{srv.url}kernelswitch/api/{path.lstrip('/')}", data=json.dumps(body).encode(),
        method=method, headers={"Accept": "application/x-ndjson",
                                "Content-Type": "application/json"},
    )  # fmt: skip
    if srv.token:
        req.add_header("Authorization", f"token {srv.token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            for line in resp:
                if line.strip():
                    yield json.loads(line)
    except urllib.error.HTTPError as e:
        raise _api_error(e, srv) from None
    except urllib.error.URLError as e:
        raise ServerUnreachable(f"cannot reach the Jupyter server at {srv.url}: {e.reason}") from e


def fetch(
    method: str,
    path: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    server: Server | None = None,
    timeout: float = 300.0,
) -> tuple[bytes, Any]:
    """``(body, headers)`` of ``{base_url}kernelswitch/api/{path}``, any content type;
    an error answer raises :class:`APIError`, no server :class:`ServerUnreachable`."""
    srv = server or find_server()
    req = urllib.request.Request(
        f"{srv.url}kernelswitch/api/{path.lstrip('/')}", data=data, method=method,
        headers=headers or {},
    )  # fmt: skip
    if srv.token:
        req.add_header("Authorization", f"token {srv.token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        raise _api_error(e, srv) from None
    except urllib.error.URLError as e:
        raise ServerUnreachable(f"cannot reach the Jupyter server at {srv.url}: {e.reason}") from e


def _api_error(e: urllib.error.HTTPError, srv: Server) -> APIError:
    """kernelswitch's own error answer as is; Jupyter's refusal of the kernel's
    credentials (401/403 without one of ours) with what to do about it."""
    try:
        err = json.loads(e.read())["error"]
        code = str(err.get("code", "error"))
    except (ValueError, KeyError, TypeError, AttributeError):
        err, code = None, "http_error"
    if e.code in (401, 403) and code in ("forbidden", "unauthorized", "http_error"):
        return APIError(
            f"the Jupyter server at {srv.url} refused this kernel's credentials "
            f"({e.code} {e.reason}). Restart the kernel from that server's notebook, "
            "or set KERNELSWITCH_URL and KERNELSWITCH_TOKEN (a token of that server) "
            "before the kernel starts.",
            code="unauthorized", status=e.code,
        )
    if err is None:
        return APIError(f"server answered {e.code} {e.reason}", code=code, status=e.code)
    return APIError(err.get("message", str(e)), code=code, status=e.code,
                    details=err.get("details"))
