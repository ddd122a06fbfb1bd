"""The tray over the events websocket while the guest ejects and a disc is
inserted through REST (real guest, real jupyter_server): open when the guest
opened it, closed once the insert answered, and the same in a new client's
snapshot and in the insert's own answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.events import about, next_message
from vm.conftest import libvirt_conn, testos, unique_name, vm_manager, wait_serial  # noqa: F401
from vm.guest import ask
from vm.test_media_tray import GUEST_EJECT, SMALL

pytestmark = [pytest.mark.server, pytest.mark.vm]


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


def _tray_in(snapshot: dict, name: str) -> str:
    record = next(v for v in snapshot["vms"] if v["name"] == name)
    return str(record["media"][0]["tray"])


async def test_tray_follows_the_guest_and_insert(
    jp_fetch: Any,
    jp_ws_fetch: Any,
    testos: dict,  # noqa: F811 (the fixtures imported above)
    vm_manager: Any,  # noqa: F811
    libvirt_conn: Any,  # noqa: F811
) -> None:
    name, iso = unique_name("evtray"), str(testos["plain"])
    info = vm_manager.create(name, iso, **SMALL)
    ws = None
    try:
        await asyncio.to_thread(wait_serial, info["serial_log"])
        ws = await jp_ws_fetch("kernelswitch", "api", "events")
        snap = await next_message(ws, lambda m: m["type"] == "snapshot")
        assert _tray_in(snap, name) == "closed"
        seen: list[dict] = []

        answer = await asyncio.to_thread(
            ask, libvirt_conn, name, info["serial_log"], GUEST_EJECT
        )
        assert answer == "ok"
        tray = await next_message(ws, about(name, "media"), seen=seen)
        assert tray["tray"] == "open" and tray["device"] == "sda", seen

        r = await jp_fetch("kernelswitch", "api", "vms", name, "insert", method="POST",
                           body=json.dumps({"iso": iso}))  # fmt: skip
        record = json.loads(r.body)
        assert record["media"][0]["path"] == iso and record["media"][0]["tray"] == "closed"
        # every tray message the insert caused, in order: the last one says closed
        trays = []
        while True:
            try:
                msg = await next_message(ws, about(name, "media"), timeout=5.0, seen=seen)
            except AssertionError:  # no more within 5 s
                break
            trays.append(msg["tray"])
        assert trays and trays[-1] == "closed", seen
        again = await jp_ws_fetch("kernelswitch", "api", "events")
        snap2 = await next_message(again, lambda m: m["type"] == "snapshot")
        assert _tray_in(snap2, name) == "closed"
        again.close()
    finally:
        if ws is not None:
            ws.close()
        vm_manager.delete(name, disks=True, force=True)
