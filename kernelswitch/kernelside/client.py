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
    srv = server or find_server()
    url = f"{srv.url}kernelswitch/api/{path.lstrip('/')}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if srv.token:
        req.add_header("Authorization", f"token {srv.token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        if e.code in (401, 403) and not _is_our_error(raw):
            raise APIError(
                f"the Jupyter server at {srv.url} refused this kernel's credentials "
                f"({e.code} {e.reason}). Restart the kernel from that server's notebook, "
                "or set KERNELSWITCH_URL and KERNELSWITCH_TOKEN (a token of that server) "
                "before the kernel starts.",
                code="unauthorized", status=e.code,
            ) from None
        try:
            err = json.loads(raw)["error"]
            raise APIError(
                err.get("message", str(e)),
                code=err.get("code", "error"),
                status=e.code,
                details=err.get("details"),
            ) from None
        except (ValueError, KeyError, TypeError):
            raise APIError(
                f"server answered {e.code} {e.reason}", code="http_error", status=e.code
            ) from None
    except urllib.error.URLError as e:
        raise ServerUnreachable(f"cannot reach the Jupyter server at {srv.url}: {e.reason}") from e


def _is_our_error(raw: bytes) -> bool:
    """An error kernelswitch itself answered (it says what to do), not Jupyter's auth."""
    try:
        return json.loads(raw)["error"]["code"] not in ("forbidden", "unauthorized")
    except (ValueError, KeyError, TypeError):
        return False
