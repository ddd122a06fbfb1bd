"""Live VM stats with a real guest: pushed over the events websocket only to a
client that asks, kept as history for ``GET vms/NAME/stats``; the CPU graph
moves while the guest is busy and stays flat while it idles (issue 18)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.events import about, events_and_service, next_message

pytestmark = [pytest.mark.server, pytest.mark.vm]

FIELDS = {"t", "cpu", "vcpus", "memory_used", "memory_total", "disk_read", "disk_write",
          "net_rx", "net_tx"}  # fmt: skip


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


async def _type(jp_fetch: Any, name: str, text: str) -> None:
    await jp_fetch("kernelswitch", "api", "vms", name, "console", "input",
                   method="POST", body=json.dumps({"text": text}))  # fmt: skip


async def _cpu(ws: Any, name: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        msg = await next_message(ws, about(name, "stats"), timeout=20)
        assert set(msg["sample"]) == FIELDS and msg["uri"] == "qemu:///session"
        out.append(msg["sample"]["cpu"])
    return out


async def test_stats_move_when_busy_flat_when_idle(
    jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, console_vm: dict
) -> None:
    name = console_vm["name"]
    ws, service = await events_and_service(jp_ws_fetch, jp_serverapp)
    assert not service.stats.watched  # nobody watches: nothing is sampled
    ws.write_message(json.dumps({"type": "stats", "watch": True}))
    await _cpu(ws, name, 2)  # settle
    idle = await _cpu(ws, name, 6)
    await _type(jp_fetch, name, "(while :; do :; done) & echo $! > /tmp/busy\n")
    await _cpu(ws, name, 3)
    busy = await _cpu(ws, name, 6)
    await _type(jp_fetch, name, "kill $(cat /tmp/busy)\n")
    await _cpu(ws, name, 3)
    idle2 = await _cpu(ws, name, 6)
    print(f"cpu % idle {idle} busy {busy} idle again {idle2}")
    assert min(busy) > 2 * max(idle + idle2), (idle, busy, idle2)
    assert max(idle + idle2) - min(idle + idle2) < 10, "an idle guest's CPU is not flat"

    ws.write_message(json.dumps({"type": "stats", "watch": False}))
    for _ in range(30):
        await asyncio.sleep(0.2)
        if service.stats._task is None or service.stats._task.done():
            break
    assert not service.stats.watched and service.stats._task.done()  # stopped sampling

    # REST: the history kept while the websocket watched, oldest first
    rec = json.loads((await jp_fetch("kernelswitch", "api", "vms", name, "stats",
                                     params={"seconds": "300"})).body)  # fmt: skip
    samples = rec["samples"]
    assert rec["name"] == name and rec["interval"] == 1.0 and len(samples) >= 20
    assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)
    assert samples[-1]["memory_used"] > 0 and samples[-1]["memory_total"] > 0
    assert service.stats.watched  # a REST reader watches for a while
    with pytest.raises(Exception, match="400"):
        await jp_fetch("kernelswitch", "api", "vms", name, "stats", params={"seconds": "0"})
    ws.close()
