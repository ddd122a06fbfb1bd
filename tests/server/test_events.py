"""The events websocket over the real jupyter_server: snapshot, changes, auth, origin.

The second URI is libvirt's test driver (``test:///default``: a real libvirt
connection with one running domain, ``test``, and real lifecycle events),
so many events can fire in a second; real guests are in test_events_vms.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import tornado.websocket
from support.events import StalledClient, about, next_message
from support.jp import ks_server_config
from tornado.httpclient import HTTPClientError

from kernelswitch.hub.queue import KEEP_APART

pytestmark = [pytest.mark.server, pytest.mark.vm]

TEST_URI = "test:///default"


@pytest.fixture
def jp_server_config() -> dict:
    return ks_server_config(libvirt_uris=["qemu:///session", TEST_URI])


async def _post(jp_fetch: Any, *path: str) -> dict:
    r = await jp_fetch("kernelswitch", "api", *path, method="POST", body="{}")
    return json.loads(r.body)


async def test_snapshot_then_ordered_changes(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    ws = await jp_ws_fetch("kernelswitch", "api", "events")
    snap = await next_message(ws)
    assert snap["type"] == "snapshot"
    test_vm = next(v for v in snap["vms"] if v["name"] == "test")
    assert test_vm["uri"] == TEST_URI and test_vm["state"] in ("running", "paused")
    assert "thumbnail_version" in test_vm and isinstance(snap["envs_version"], int)
    assert {h["uri"]: h["state"] for h in snap["hosts"]} == {
        "qemu:///session": "up",
        TEST_URI: "up",
    }
    # GET vms says the same about every VM of both URIs
    listed = json.loads((await jp_fetch("kernelswitch", "api", "vms")).body)["vms"]
    assert {(v["uri"], v["name"]) for v in listed} <= {(v["uri"], v["name"]) for v in snap["vms"]}
    if test_vm["state"] == "paused":
        await _post(jp_fetch, "vms", "test", "resume")
        await next_message(ws, about("test", "vm"))

    # order per VM: what the VM went through, in that order
    for action in ("suspend", "resume", "suspend", "resume"):
        await _post(jp_fetch, "vms", "test", action)
    seen: list[dict] = []
    states = []
    while len(states) < 4:
        msg = await next_message(ws, about("test", "vm"), seen=seen)
        states.append((msg["state"], msg["reason"]))
    assert states == [("paused", "paused"), ("running", "unpaused")] * 2
    assert all(m["uri"] == TEST_URI for m in seen if m.get("name") == "test")
    ws.close()


def _toggle(times: int) -> None:
    """Pause and resume the test driver's domain *times* times (libvirt's test
    driver is in-process and shared, so the server's connection gets every event)."""
    import libvirt

    conn = libvirt.open(TEST_URI)
    try:
        dom = conn.lookupByName("test")
        for _ in range(times):
            dom.suspend()
            dom.resume()
    finally:
        conn.close()


async def test_a_client_that_never_reads_slows_no_one(
    jp_fetch: Any, jp_ws_fetch: Any, jp_http_port: int, jp_base_url: str,
    jp_auth_header: dict, jp_serverapp: Any,
) -> None:  # fmt: skip
    """A stalled client next to a live one while thousands of events fire: the live
    one keeps up, the server holds at most one pending message per thing for the
    stalled one, and when that one finally reads it gets what the sockets' buffers
    held (capped by a small send buffer) and then the latest state, not the backlog."""
    stalled = await StalledClient.connect(
        jp_http_port, f"{jp_base_url}kernelswitch/api/events", jp_auth_header
    )
    live = await jp_ws_fetch("kernelswitch", "api", "events")
    await next_message(live, lambda m: m["type"] == "snapshot")
    burst = 3000
    toggling = asyncio.ensure_future(asyncio.to_thread(_toggle, burst))
    got: list[dict] = []
    await next_message(live, about("test", "vm"), timeout=20, seen=got)
    await toggling
    with pytest.raises(AssertionError):  # until quiet: the last word is the latest state
        await next_message(live, lambda m: False, timeout=2.0, seen=got)
    mine = [m for m in got if m.get("name") == "test"]
    assert mine and mine[-1]["state"] == "running"
    seen = len(mine)
    service = jp_serverapp.web_app.settings["kernelswitch_events"]
    sub = next(s for s in service.hub.subscribers if s.coalesced)  # the stalled one
    # pending: a few kept apart, then at most one message per thing it is about
    assert len(sub) <= KEEP_APART + 3
    # one more change reaches the live client at once although the other never read
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await _post(jp_fetch, "vms", "test", "suspend")
    await next_message(live, lambda m: about("test", "vm")(m) and m["state"] == "paused",
                       timeout=2)  # fmt: skip
    print(
        f"live client: {seen} messages for {2 * burst} changes; the next one after "
        f"{(loop.time() - t0) * 1000:.1f} ms; stalled client coalesced {sub.coalesced}"
    )
    await _post(jp_fetch, "vms", "test", "resume")
    await next_message(live, about("test", "vm"))
    # the stalled client reads at last: snapshot, then the latest state, not 6000 changes
    texts = await stalled.read_texts()
    assert texts[0]["type"] == "snapshot"
    about_test = [m for m in texts[1:] if m.get("name") == "test"]
    assert 1 <= len(about_test) <= burst // 5, len(about_test)
    assert about_test[-1]["state"] == "running"
    print(f"stalled client: {len(about_test)} messages for {2 * burst + 2} changes")
    stalled.close()
    live.close()


async def test_refused_without_token_or_from_another_origin(
    jp_ws_fetch: Any, jp_http_port: int, jp_base_url: str
) -> None:
    url = f"ws://localhost:{jp_http_port}{jp_base_url}kernelswitch/api/events"
    with pytest.raises(HTTPClientError) as e:
        await tornado.websocket.websocket_connect(url)  # no token
    assert e.value.code == 403
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("kernelswitch", "api", "events",
                          headers={"Origin": "http://evil.example"})  # fmt: skip
    assert e.value.code == 403
    ok = await jp_ws_fetch("kernelswitch", "api", "events",
                           headers={"Origin": f"http://localhost:{jp_http_port}"})  # fmt: skip
    assert (await next_message(ok))["type"] == "snapshot"
    # a bad message is answered, the socket stays
    ok.write_message("not json")
    err = await next_message(ok, lambda m: m["type"] == "error")
    assert "thumbnails" in err["message"]
    ok.close()
