"""A snapshot revert that moves the CD/DVD drive's tray is told on the events
websocket (the one stream every UI listens to): QEMU restores the tray with the
guest's memory and libvirt records it, but neither sends a tray event for it,
so without the server's own ``media`` message every open UI kept showing the
tray as it was before the revert. Real guest, real jupyter_server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.events import about, next_message
from support.jp import ks_server_config

from .conftest import unique_name, wait_serial
from .test_media_tray import SMALL, _guest_tray

pytestmark = [pytest.mark.server, pytest.mark.vm]


@pytest.fixture
def jp_server_config() -> dict:
    return ks_server_config()


def _tray(record: dict) -> str:
    return str(record["media"][0]["tray"])


async def test_revert_that_moves_the_tray_is_sent_as_a_media_event(
    jp_fetch: Any, jp_ws_fetch: Any, testos: dict, vm_manager: Any, libvirt_conn: Any
) -> None:
    name = unique_name("snaptray")
    info = await asyncio.to_thread(vm_manager.create, name, str(testos["plain"]), **SMALL)
    ws = None
    try:
        await asyncio.to_thread(wait_serial, info["serial_log"])
        ws = await jp_ws_fetch("kernelswitch", "api", "events")
        await next_message(ws, lambda m: m["type"] == "snapshot")
        seen: list[dict] = []
        target = info["media"][0]["target"]

        # what the guest's eject does to QEMU's tray, until libvirt recorded it
        await asyncio.to_thread(_guest_tray, libvirt_conn, name, "open")
        opened = await next_message(ws, about(name, "media"), seen=seen)
        assert opened["tray"] == "open", seen
        assert _tray(await asyncio.to_thread(vm_manager.info, name)) == "open"
        r = await jp_fetch("kernelswitch", "api", "vms", name, "snapshots", method="POST",
                           body=json.dumps({"name": "tray-open"}))  # fmt: skip
        assert r.code == 201
        await asyncio.to_thread(_guest_tray, libvirt_conn, name, "close")
        closed = await next_message(ws, about(name, "media"), seen=seen)
        assert closed["tray"] == "closed", seen
        assert _tray(await asyncio.to_thread(vm_manager.info, name)) == "closed"

        del seen[:]
        r = await jp_fetch("kernelswitch", "api", "vms", name, "snapshots", "tray-open",
                           "revert", method="POST", body="{}")  # fmt: skip
        assert _tray(json.loads(r.body)) == "open"
        # every UI hears it: the drive's tray is open again
        media = await next_message(ws, about(name, "media"), seen=seen)
        assert media["tray"] == "open", seen
        assert media["uri"] == info["uri"], media
        assert media["device"] == target, media
        # and a client that connects now is told the same in its snapshot
        again = await jp_ws_fetch("kernelswitch", "api", "events")
        snap = await next_message(again, lambda m: m["type"] == "snapshot")
        again.close()
        assert _tray(next(v for v in snap["vms"] if v["name"] == name)) == "open"
    finally:
        if ws is not None:
            ws.close()
        await asyncio.to_thread(vm_manager.delete, name, disks=True, force=True)
