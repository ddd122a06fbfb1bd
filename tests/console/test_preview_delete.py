"""Issue 15: a deleted VM's preview does not stay in the cache.

``DELETE vms/NAME?force=1`` while a viewer watches: the console stops as the
VM is destroyed and saves its last frame, racing the delete that removes the
preview. Real guest, real jupyter_server, real websocket.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from support.console_vm import CONSOLE_VM
from tornado.httpclient import HTTPClientError

from .test_server import _next, _status

pytestmark = pytest.mark.server


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


@pytest.fixture
def doomed_vm(testos_plain: Path) -> Any:
    from vm.conftest import URI, unique_name, wait_serial

    from kernelswitch.vm.manager import VMManager

    manager = VMManager(URI)
    info = manager.create(unique_name("doomed"), str(testos_plain), **CONSOLE_VM)
    try:
        wait_serial(info["serial_log"])
        yield manager, info
    finally:
        if info["name"] in manager.names():
            manager.delete(info["name"], disks=True, force=True)


@pytest.fixture
def testos_plain() -> Path:
    from kernelswitch._paths import testos_dir

    return testos_dir() / "testos-plain.iso"


async def test_delete_with_a_viewer_leaves_no_preview(jp_fetch: Any, jp_ws_fetch: Any,
                                                      doomed_vm: Any) -> None:
    manager, info = doomed_vm
    name = info["name"]
    preview = Path(manager.preview_file(name))
    ws = await jp_ws_fetch("kernelswitch", "api", "vms", name, "console")
    await _status(ws, "connected")
    await _next(ws, "update")
    ws.close()  # the last viewer leaves: the frame is kept as the preview
    for _ in range(100):
        if preview.exists():
            break
        await asyncio.sleep(0.1)
    assert preview.exists()

    ws = await jp_ws_fetch("kernelswitch", "api", "vms", name, "console")
    await _status(ws, "connected")
    await _next(ws, "update")
    resp = await jp_fetch("kernelswitch", "api", "vms", name, method="DELETE",
                          params={"force": "1", "disks": "1"})  # fmt: skip
    assert json.loads(resp.body)["deleted"] is True
    await asyncio.sleep(3)  # the console sees the VM stop and saves its last frame
    ws.close()
    await asyncio.sleep(1)
    assert not preview.exists()
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("kernelswitch", "api", "vms", name, "preview")
    assert e.value.code == 404
