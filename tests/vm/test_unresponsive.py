"""A guest whose QEMU stops answering stalls nobody (issue 15).

Before: with one guest's QEMU SIGSTOPped, ``GET vms`` took 90 s, ``GET
vms/OTHER`` 30 s, a screenshot over 90 s and suspend a 409 after 30 s. Now the
list answers at once from what libvirt knows without the monitor, marking the
VM ``responsive: false``; its own QEMU calls answer 504 ``vm_unresponsive``;
other VMs are served as usual; SIGCONT and it is normal again.

Real jupyter_server (pytest_jupyter), real libvirtd and TCG guests: our own
guest is stopped (never anyone else's), the session's console guest is the
healthy other one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from kernelswitch.vm.errors import VMUnresponsive
from kernelswitch.vm.guard import MONITOR_DEADLINE, MonitorGuard
from kernelswitch.vm.runtime import qemu_process

from .conftest import unique_name, wait_serial

pytestmark = [pytest.mark.vm, pytest.mark.server]

SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


@pytest.fixture
def stoppable_vm(vm_manager: Any, testos: dict) -> Iterator[dict]:
    """A booted guest of this test only; its QEMU is always continued at the end."""
    name = unique_name("stopme")
    info = vm_manager.create(name, str(testos["plain"]), **SMALL)
    try:
        wait_serial(info["serial_log"])
        proc = qemu_process(name)
        assert proc is not None, f"no QEMU process found for {name}"
        info["pid"] = proc["pid"]
        yield info
    finally:
        with contextlib.suppress(Exception):
            os.kill(info["pid"], signal.SIGCONT)
        vm_manager.delete(name, disks=True, force=True)


async def _answer(
    jp_fetch: Any, method: str, *path: str, body: Any = None
) -> tuple[int, Any, float]:
    """Status, JSON (None for a PNG) and seconds of one call; errors are answers."""
    kw: dict[str, Any] = {"method": method}
    if body is not None or method == "POST":
        kw["body"] = json.dumps(body or {})
    t0 = time.monotonic()
    try:
        resp = await jp_fetch("kernelswitch", "api", *path, **kw)
        status, raw, ctype = resp.code, resp.body, resp.headers.get("Content-Type", "")
    except HTTPClientError as e:
        assert e.response is not None
        status, raw, ctype = e.code, e.response.body, "application/json"
    took = time.monotonic() - t0
    data = json.loads(raw) if raw and ctype.startswith("application/json") else None
    return status, data, took


async def test_a_stopped_guest_stalls_nobody(
    jp_fetch: Any, stoppable_vm: dict, console_vm: dict
) -> None:
    name, other = stoppable_vm["name"], console_vm["name"]
    status, _, _ = await _answer(jp_fetch, "GET", "vms", name, "screenshot")
    assert status == 200  # its console is open now (and lingers) when QEMU stops

    os.kill(stoppable_vm["pid"], signal.SIGSTOP)
    try:
        status, data, took = await _answer(jp_fetch, "GET", "vms")
        assert status == 200 and took <= 1.0, took
        rows = {v["name"]: v for v in data["vms"]}
        assert rows[name]["state"] == "running" and rows[name]["responsive"] is False
        assert "stopped" in rows[name]["unresponsive_reason"]
        assert rows[other]["responsive"] is True

        status, data, took = await _answer(jp_fetch, "GET", "vms", other)
        assert (status, data["responsive"]) == (200, True) and took <= 1.0, took
        status, data, took = await _answer(jp_fetch, "GET", "vms", name)
        assert (status, data["responsive"]) == (200, False) and took <= 1.0, took

        # its own QEMU calls: 504 naming it, within the deadline (at once, here)
        for method, path, body in [
            ("GET", ("vms", name, "screenshot"), None),
            ("POST", ("vms", name, "suspend"), None),
            ("POST", ("vms", name, "snapshots"), {"name": "while-stopped"}),
            ("POST", ("vms", name, "console", "input"), {"text": "x"}),
        ]:
            status, data, took = await _answer(jp_fetch, method, *path, body=body)
            assert status == 504, (path, status, data)
            assert data["error"]["code"] == "vm_unresponsive", data
            assert repr(name) in data["error"]["message"] and took <= MONITOR_DEADLINE, took

        # a burst of calls on the stopped VM piles up nowhere: the healthy one answers
        burst = [_answer(jp_fetch, "GET", "vms", name, "screenshot") for _ in range(8)]
        results = await asyncio.gather(
            *burst, _answer(jp_fetch, "GET", "vms", other, "screenshot"),
            _answer(jp_fetch, "GET", "vms", other),
        )  # fmt: skip
        assert [r[0] for r in results] == [504] * 8 + [200, 200], [r[:1] for r in results]
        assert results[-1][2] <= 1.0 and results[-2][2] <= MONITOR_DEADLINE
    finally:
        os.kill(stoppable_vm["pid"], signal.SIGCONT)

    status, data, _ = await _answer(jp_fetch, "GET", "vms", name)
    assert (status, data["responsive"], data["unresponsive_reason"]) == (200, True, None)
    status, _, _ = await _answer(jp_fetch, "GET", "vms", name, "screenshot")
    assert status == 200
    status, data, _ = await _answer(jp_fetch, "POST", "vms", name, "suspend")
    assert (status, data["state"]) == (200, "paused")
    status, data, _ = await _answer(jp_fetch, "POST", "vms", name, "resume")
    assert (status, data["state"]) == (200, "running")


def test_a_monitor_call_past_its_deadline(vm_manager: Any, stoppable_vm: dict) -> None:
    """Where ``/proc`` cannot tell (a remote host, a QEMU hung without a signal):
    the first call waits its deadline, then every call answers at once, and the
    stuck one finishes in the background once QEMU answers again."""
    name = stoppable_vm["name"]
    guard = MonitorGuard(local=False)
    dom = vm_manager.connection.call(lambda c: c.lookupByName(name))
    assert guard.call(name, dom.memoryStats, "reading stats", 2.0)["rss"] > 0
    os.kill(stoppable_vm["pid"], signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(VMUnresponsive) as e:
            guard.call(name, dom.memoryStats, "reading stats", 2.0)
        assert 2.0 <= time.monotonic() - t0 < 4.0
        assert "within 2 s" in e.value.message and e.value.details["name"] == name
        assert "waited" in (guard.unresponsive(name) or "")
        t0 = time.monotonic()
        with pytest.raises(VMUnresponsive):
            guard.call(name, dom.memoryStats, "reading stats again", 2.0)
        assert time.monotonic() - t0 < 0.5  # known now: no second wait
        # libvirt sees its monitor occupied: the guard of the server can tell as well
        time.sleep(0.2)
        assert dom.controlInfo()[0] == 2  # VIR_DOMAIN_CONTROL_OCCUPIED
    finally:
        os.kill(stoppable_vm["pid"], signal.SIGCONT)
    deadline = time.monotonic() + 10
    while guard.unresponsive(name) is not None:
        assert time.monotonic() < deadline, guard.unresponsive(name)
        time.sleep(0.1)
    assert guard.call(name, dom.memoryStats, "reading stats", 2.0)["rss"] > 0
