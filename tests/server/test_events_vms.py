"""The events websocket with real guests: REST create/delete, thumbnails, env list, CLI.

Real libvirtd/QEMU guests (test OS under TCG) and the real jupyter_server.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support.events import about, events_and_service, next_message
from support.venvs import make_venv
from vm.conftest import libvirt_conn, testos, unique_name, vm_manager  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.server, pytest.mark.vm]

SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


async def _call(
    jp_fetch: Any, method: str, *path: str, body: dict | None = None, **params: str
) -> dict:
    kw: dict[str, Any] = {"method": method, "params": params}
    if body is not None:
        kw["body"] = json.dumps(body)
    return json.loads((await jp_fetch("kernelswitch", "api", *path, **kw)).body)


async def test_rest_create_eject_and_delete_are_pushed_in_order(
    jp_fetch: Any,
    jp_ws_fetch: Any,
    testos: dict,  # noqa: F811 (the fixture imported above)
    vm_manager: Any,  # noqa: F811
) -> None:
    ws = await jp_ws_fetch("kernelswitch", "api", "events")
    snap = await next_message(ws, lambda m: m["type"] == "snapshot")
    name = unique_name("events")
    assert name not in {v["name"] for v in snap["vms"]}
    try:
        await _call(jp_fetch, "POST", "vms",
                    body={"name": name, "iso": str(testos["plain"]), **SMALL})  # fmt: skip
        seen: list[dict] = []
        defined = await next_message(ws, about(name), seen=seen)
        assert defined["type"] == "vm_defined", seen
        assert defined["uri"] == "qemu:///session" and defined["vm"]["name"] == name
        if defined["vm"]["state"] != "running":  # the record was read before the start
            running = await next_message(ws, about(name, "vm"), seen=seen)
            assert running["state"] == "running"  # reason: unpaused (QEMU starts paused), booted

        # the disc ejected from the running guest: its drive's tray opens
        await _call(jp_fetch, "POST", "vms", name, "eject", body={})
        tray = await next_message(ws, about(name, "media"), seen=seen)
        assert tray["tray"] == "open" and tray["uri"] == "qemu:///session"
        # the drive named as in the record (its target), not libvirt's alias (sata0-0-0)
        assert tray["device"] == defined["vm"]["media"][0]["target"] == "sda", tray

        await _call(jp_fetch, "POST", "vms", name, "suspend", body={})
        await _call(jp_fetch, "POST", "vms", name, "resume", body={})
        await _call(jp_fetch, "DELETE", "vms", name, force="1", disks="1")
        after = []
        while not after or after[-1]["type"] != "vm_undefined":
            after.append(await next_message(ws, about(name), seen=seen))
        changes = [(m["type"], m.get("state")) for m in after
                   if m["type"] not in ("thumbnail", "media")]  # fmt: skip
        # the start's own (running: unpaused, booted) may still come first; then in order
        first = changes.index(("vm", "paused"))
        assert set(changes[:first]) <= {("vm", "running")}, changes
        tail = [c for c in changes[first:] if c != ("vm", "shutting-down")]  # destroy's ACPI
        assert tail == [("vm", "paused"), ("vm", "running"), ("vm", "shutoff"),
                        ("vm_undefined", None)], changes  # fmt: skip
        # a new client's snapshot no longer has it
        again = await jp_ws_fetch("kernelswitch", "api", "events")
        snap2 = await next_message(again, lambda m: m["type"] == "snapshot")
        assert name not in {v["name"] for v in snap2["vms"]}
        again.close()
    finally:
        if name in vm_manager.names():
            vm_manager.delete(name, disks=True, force=True)
        ws.close()


def _png(body: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(body))
    img.load()
    return img


async def test_thumbnail_follows_the_screen_only_while_visible(
    jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, console_vm: dict
) -> None:
    name = console_vm["name"]
    ws, service = await events_and_service(jp_ws_fetch, jp_serverapp)
    assert not service.thumbnails.visible  # nobody shows thumbnails: none are taken

    ws.write_message(json.dumps({"type": "thumbnails", "visible": True}))
    first = await next_message(ws, about(name, "thumbnail"), timeout=20)
    body = (await jp_fetch("kernelswitch", "api", "vms", name, "thumbnail")).body
    img = _png(body)
    assert img.width <= 240 and img.height > 0 and len(body) < 60_000

    # type into the guest: its screen changes, and so does the thumbnail
    token = f"THUMB-{secrets.token_hex(4)}"
    text = f"clear; echo {token}; for i in 1 2 3 4 5 6 7 8; do echo {token}-$i; done\n"
    await _call(jp_fetch, "POST", "vms", name, "console", "input", body={"text": text})
    newer = await next_message(
        ws, lambda m: about(name, "thumbnail")(m) and m["version"] > first["version"],
        timeout=20)  # fmt: skip
    body2 = (await jp_fetch("kernelswitch", "api", "vms", name, "thumbnail")).body
    assert body2 != body and _png(body2).tobytes() != img.tobytes()
    assert newer["uri"] == "qemu:///session"

    # hidden again: the thumbnails loop stops
    ws.write_message(json.dumps({"type": "thumbnails", "visible": False}))
    await asyncio.sleep(0.5)
    assert not service.thumbnails.visible and service.thumbnails._task is None
    ws.close()


async def test_a_new_venv_under_a_root_is_an_envs_message(
    jp_ws_fetch: Any, jp_root_dir: Path
) -> None:
    ws = await jp_ws_fetch("kernelswitch", "api", "events")
    snap = await next_message(ws, lambda m: m["type"] == "snapshot")
    await asyncio.sleep(1.5)  # the watcher's first walk of the roots
    await asyncio.to_thread(make_venv, jp_root_dir / "proj" / ".venv")
    msg = await next_message(ws, lambda m: m["type"] == "envs", timeout=15)
    assert msg["version"] > snap["envs_version"]
    ws.close()


def test_cli_watch_prints_the_same_events(console_vm: dict, vm_manager: Any) -> None:  # noqa: F811
    """``kernelswitch vm watch --json`` (libvirt directly, no server): a pause and a
    resume of a running guest, one JSON line each, after the snapshot."""
    name = console_vm["name"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernelswitch.cli", "vm", "watch", "--json", "--count", "20"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        snap = json.loads(proc.stdout.readline())
        assert snap["type"] == "snapshot" and name in {v["name"] for v in snap["vms"]}
        vm_manager.suspend(name)
        vm_manager.resume(name)
        mine = []
        while len(mine) < 2:
            msg = json.loads(proc.stdout.readline())
            if msg.get("name") == name:
                mine.append((msg["type"], msg["state"], msg["reason"]))
        assert mine == [("vm", "paused", "paused"), ("vm", "running", "unpaused")]
    finally:
        proc.terminate()
        proc.wait(10)
    # the human form: one line per event
    from kernelswitch.hub import format_line

    line = format_line({"type": "vm", "name": name, "uri": "qemu:///session",
                        "state": "paused", "reason": "paused"})  # fmt: skip
    assert f"{name}  paused (paused)" in line and "\n" not in line


async def test_a_cut_libvirt_link_is_host_down_then_up(jp_ws_fetch: Any) -> None:
    """libvirtd drops the server's connection (virt-admin): clients are told the
    host went down, and up again once the server reconnected by itself."""
    from vm.test_run import _client_ids_of_this_process

    ws = await jp_ws_fetch("kernelswitch", "api", "events")
    snap = await next_message(ws, lambda m: m["type"] == "snapshot")
    assert {"uri": "qemu:///session", "alias": "local", "state": "up"} in snap["hosts"]
    for cid in _client_ids_of_this_process():
        subprocess.run(["virt-admin", "client-disconnect", "libvirtd", cid],
                       check=True, capture_output=True)  # fmt: skip
    host = lambda state: lambda m: m["type"] == "host" and m["state"] == state  # noqa: E731
    down = await next_message(ws, host("down"), timeout=30)
    assert down["uri"] == "qemu:///session" and down["reason"]
    await next_message(ws, host("up"), timeout=60)
    ws.close()
