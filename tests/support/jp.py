"""REST calls through pytest_jupyter's ``jp_fetch`` (the in-process server)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError


async def jp_call(
    jp_fetch: Any, method: str, *path: str, body: Any = None, **params: str
) -> tuple[Any, Any]:
    """``kernelswitch/api/<path>``: the response and its parsed JSON body."""
    kw: dict[str, Any] = {"method": method}
    if body is not None or method == "POST":
        kw["body"] = json.dumps(body if body is not None else {})
    if params:
        kw["params"] = params
    resp = await jp_fetch("kernelswitch", "api", *path, **kw)
    return resp, (json.loads(resp.body) if resp.body else None)


async def jp_error(
    jp_fetch: Any, method: str, *path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """A call that must fail: its status and the JSON ``error`` object."""
    with pytest.raises(HTTPClientError) as e:
        await jp_call(jp_fetch, method, *path, body=body)
    assert e.value.response is not None
    return e.value.code, json.loads(e.value.response.body)["error"]


def ks_server_config(**kernelswitch: Any) -> dict[str, Any]:
    """A ``jp_server_config`` with kernelswitch on and these ``KernelSwitchApp`` settings."""
    config: dict[str, Any] = {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}
    if kernelswitch:
        config["KernelSwitchApp"] = kernelswitch
    return config
