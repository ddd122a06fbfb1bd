"""The per-client queue of the events websocket (no server: its rules alone)."""

from __future__ import annotations

import asyncio

from kernelswitch.hub.queue import KEEP_APART, Subscriber


def vm(name: str, state: str) -> dict:
    return {"type": "vm", "name": name, "uri": "u", "state": state, "reason": ""}


def drain(sub: Subscriber) -> list[dict]:
    async def go() -> list[dict]:
        out = []
        while len(sub):
            msg = await sub.get()
            assert msg is not None
            out.append(msg)
        sub.busy = False
        return out

    return asyncio.run(go())


def test_a_waiting_client_gets_a_burst_whole_then_the_latest() -> None:
    sub = Subscriber()
    states = ["running", "paused"] * KEEP_APART
    for s in states:
        sub.put(vm("a", s))
    got = [m["state"] for m in drain(sub)]
    # the first KEEP_APART as they came, then one message: the latest state
    assert got == [*states[:KEEP_APART], states[-1]]


def test_a_busy_client_gets_one_message_per_thing_in_first_seen_order() -> None:
    sub = Subscriber()
    sub.busy = True  # writing a message to a slow peer
    for i in range(1000):
        sub.put(vm("a", f"s{i}"))
        sub.put(vm("b", f"t{i}"))
        sub.put({"type": "envs", "version": i})
    got = drain(sub)
    assert [(m["type"], m.get("name")) for m in got] == [("vm", "a"), ("vm", "b"), ("envs", None)]
    assert (got[0]["state"], got[1]["state"], got[2]["version"]) == ("s999", "t999", 999)
    assert sub.coalesced == 2997


def test_a_state_change_goes_into_a_pending_definition() -> None:
    sub = Subscriber()
    sub.busy = True
    record = {"name": "a", "state": "shutoff"}
    sub.put({"type": "vm_defined", "name": "a", "uri": "u", "vm": record})
    sub.put(vm("a", "running"))
    [msg] = drain(sub)
    assert msg["type"] == "vm_defined" and msg["vm"]["state"] == "running"
    sub.busy = True
    sub.put(vm("a", "paused"))
    sub.put({"type": "vm_undefined", "name": "a", "uri": "u"})
    assert [m["type"] for m in drain(sub)] == ["vm_undefined"]


def test_too_many_things_pending_closes_the_client() -> None:
    sub = Subscriber(limit=10)
    sub.busy = True
    for i in range(11):
        sub.put(vm(f"vm{i}", "running"))
    assert sub.closed and "reconnect" in sub.reason and len(sub) == 0
    assert asyncio.run(sub.get()) is None
