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
from tornado.httpclient import HTTPClientError

from support.events import about, next_message

pytestmark = [pytest.mark.server, pytest.mark.vm]

TEST_URI = "test:///default"


@pytest.fixture
def jp_server_config() -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"kernelswitch": True}},
        "KernelSwitchApp": {"libvirt_uris": ["qemu:///session", TEST_URI]},
    }


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
        "qemu:///session": "up", TEST_URI: "up"}
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


async def test_a_client_that_never_reads_slows_no_one(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    """A stalled client (never reads) next to a live one while hundreds of events fire:
    the live one sees each change promptly, the server answers REST as usual, and
    the stalled one, when it finally reads, gets the latest state, not a backlog."""
    stalled = await jp_ws_fetch("kernelswitch", "api", "events")
    stalled.stream.socket.setsockopt(__import__("socket").SOL_SOCKET,
                                     __import__("socket").SO_RCVBUF, 4096)  # fmt: skip
    live = await jp_ws_fetch("kernelswitch", "api", "events")
    await next_message(live, lambda m: m["type"] == "snapshot")
    loop = asyncio.get_running_loop()
    lags = []
    for i in range(150):
        action = "suspend" if i % 2 == 0 else "resume"
        t0 = loop.time()
        await _post(jp_fetch, "vms", "test", action)
        want = "paused" if action == "suspend" else "running"
        await next_message(live, lambda m, w=want: about("test", "vm")(m) and m["state"] == w)
        lags.append(loop.time() - t0)
    lags.sort()
    # the REST call and its event round trip stay interactive with a stalled peer
    assert lags[len(lags) // 2] < 0.5, lags
    # the stalled client now reads: a snapshot, then at most a few coalesced messages
    snap = await next_message(stalled, timeout=10)
    assert snap["type"] == "snapshot"
    rest: list[dict] = []
    with pytest.raises(AssertionError):
        await next_message(stalled, lambda m: False, timeout=1.5, seen=rest)
    about_test = [m for m in rest if m.get("name") == "test"]
    assert len(about_test) <= 3, about_test  # latest state, not 150 changes
    if about_test:
        assert about_test[-1]["state"] == "running"
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
