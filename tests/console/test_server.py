"""Console over the real jupyter_server: websocket fan-out, bad messages, auth,
origin, screenshot, raw framebuffer, input and the preview (shared guest)."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import numpy as np
import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError

from kernelswitch.console import encoders

from .conftest import wait_serial_line

pytestmark = pytest.mark.server


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


async def _next(ws: WebSocketClientConnection, want: str, timeout: float = 30.0) -> Any:
    """The next message of kind *want* ('update', 'audio' or a JSON type)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        msg = await asyncio.wait_for(ws.read_message(), max(deadline - loop.time(), 0.01))
        if msg is None:
            raise AssertionError(f"websocket closed while waiting for {want}")
        if isinstance(msg, bytes):
            if want == "update" and msg[0] == encoders.MSG_UPDATE:
                return msg
            continue
        data = json.loads(msg)
        if data["type"] == want:
            return data


async def _status(ws: WebSocketClientConnection, state: str) -> dict:
    while True:
        st = await _next(ws, "status")
        if st["state"] == state:
            return st


def _apply(screen: np.ndarray | None, msg: bytes) -> np.ndarray:
    return encoders.apply_update(screen, msg)  # copies of rows it has, then tiles


async def test_websocket_streams_the_framebuffer_and_fans_out(
    jp_fetch: Any, jp_ws_fetch: Any, console_vm: dict
) -> None:
    name = console_vm["name"]
    a = await jp_ws_fetch("kernelswitch", "api", "vms", name, "console")
    b = await jp_ws_fetch("kernelswitch", "api", "vms", name, "console")
    st = await _status(a, "connected")
    first_a = await _next(a, "update")
    screen_b = _apply(None, await _next(b, "update"))
    screen_a = _apply(None, first_a)
    assert screen_a.shape == (st["height"], st["width"], 4)

    # typing through one viewer lands in the guest; both see the screen change
    token = f"WS-{secrets.token_hex(3)}_X>"
    a.write_message(json.dumps({"type": "type", "text": f"echo '{token}' > /dev/ttyS0\n"}))
    await asyncio.to_thread(wait_serial_line, console_vm, token + "\n")
    screen_a = _apply(screen_a, await _next(a, "update"))
    screen_b = _apply(screen_b, await _next(b, "update"))

    # the raw framebuffer endpoint: H x W x 4, the same screen the sockets paint
    await asyncio.sleep(1.0)
    r = await jp_fetch("kernelswitch", "api", "vms", name, "framebuffer")
    w, h = int(r.headers["X-Framebuffer-Width"]), int(r.headers["X-Framebuffer-Height"])
    frame = np.frombuffer(r.body, np.uint8).reshape(h, w, 4)
    for ws, screen in ((a, screen_a), (b, screen_b)):
        # the viewer's canvas catches up with the framebuffer (all but a blinking cursor)
        for _ in range(50):
            if (screen == frame).all(axis=2).mean() > 0.995:
                break
            screen = _apply(screen, await _next(ws, "update", timeout=5.0))
        assert (screen == frame).all(axis=2).mean() > 0.995
    a.close()
    b.close()


async def test_bad_messages_are_refused_and_harm_no_one(
    jp_fetch: Any, jp_ws_fetch: Any, console_vm: dict
) -> None:
    name = console_vm["name"]
    good = await jp_ws_fetch("kernelswitch", "api", "vms", name, "console")
    bad = await jp_ws_fetch("kernelswitch", "api", "vms", name, "console")
    await _status(good, "connected")
    await _status(bad, "connected")
    cases = [
        ("garbage{", "JSON object"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"type": "launch-missiles"}), "unknown message type"),
        (json.dumps({"type": "key", "code": "NoSuchKey", "down": True}), "unknown key code"),
        (json.dumps({"type": "pointer", "x": -5, "y": 0, "buttons": 0}), "'x' must be"),
        (json.dumps({"type": "type", "text": "caf\u00e9"}), "cannot type"),
        # a RecursionError in json.loads used to drop the viewer with a traceback
        ("[" * 30000, "nest at most 16 levels"),
        ('{"type": "key", "code": ' + "[" * 17 + "]" * 17 + "}", "nest at most 16 levels"),
        (json.dumps({"type": "key", "code": ["KeyA"], "down": True}), "'code' must be"),
    ]
    for raw, why in cases:
        bad.write_message(raw)
        err = await _next(bad, "error")
        assert why in err["message"], (raw, err)
    bad.write_message(b"\x00\x01binary", binary=True)
    assert "binary" in (await _next(bad, "error"))["message"]
    # oversized: the server closes that socket (1009) ...
    bad.write_message("x" * (100 * 1024))
    while await bad.read_message() is not None:
        pass
    assert bad.close_code == 1009
    # ... and the other viewer still types and sees updates
    token = f"GOOD-{secrets.token_hex(3)}"
    good.write_message(json.dumps({"type": "type", "text": f"echo {token} > /dev/ttyS0\n"}))
    await asyncio.to_thread(wait_serial_line, console_vm, token)
    assert await _next(good, "update")
    good.close()


async def test_refused_connections(
    jp_ws_fetch: Any, jp_http_port: int, jp_base_url: str, console_vm: dict
) -> None:
    import tornado.websocket

    name = console_vm["name"]
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("kernelswitch", "api", "vms", "kstvm-no-such-vm", "console")
    assert e.value.code == 404
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch(
            "kernelswitch", "api", "vms", name, "console",
            headers={"Origin": "http://evil.example"},
        )  # fmt: skip
    assert e.value.code == 403
    url = f"ws://localhost:{jp_http_port}{jp_base_url}kernelswitch/api/vms/{name}/console"
    with pytest.raises(HTTPClientError) as e:
        await tornado.websocket.websocket_connect(url)  # no token
    assert e.value.code == 403
    ok = await jp_ws_fetch(
        "kernelswitch", "api", "vms", name, "console",
        headers={"Origin": f"http://localhost:{jp_http_port}"},
    )  # fmt: skip
    await _status(ok, "connected")
    ok.close()
    with pytest.raises(WebSocketClosedError):
        await ok.write_message("{}")


async def test_a_long_text_arrives_whole(jp_fetch: Any, console_vm: dict) -> None:
    """~4,000 characters of shell lines through ``console/input`` reach the guest's
    shell, every one of them (typing goes through libvirt send-key, ~4x faster
    than over VNC: benchmarks/typing_speed.py measures it)."""
    name = console_vm["name"]
    words = "the quick brown fox jumps over a lazy dog 0123456789 ls -l /usr/bin cat ./x_y"
    rnd = secrets.SystemRandom()
    lines = []
    for i in range(4):  # busybox ash edits lines of up to 1,024 characters
        token = f"LONG{i}-{secrets.token_hex(3)}"
        while len(token) < 940:
            token += " " + rnd.choice(words.split())
        lines.append(token)
    text = "".join(f"echo '{t}' > /dev/ttyS0\n" for t in lines)
    assert len(text) > 3800
    body = json.dumps({"text": text})
    r = await jp_fetch(
        "kernelswitch", "api", "vms", name, "console", "input", method="POST", body=body,
        request_timeout=120,
    )  # fmt: skip
    assert json.loads(r.body) == {"name": name, "done": True}
    for token in lines:
        await asyncio.to_thread(wait_serial_line, console_vm, token)


async def test_screenshot_input_and_preview(jp_fetch: Any, console_vm: dict) -> None:
    from PIL import Image

    name = console_vm["name"]
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("kernelswitch", "api", "vms", name, "preview")
    assert e.value.code == 404
    assert "no preview yet" in json.loads(e.value.response.body)["error"]["message"]

    token = f"REST-{secrets.token_hex(3)}"
    body = json.dumps({"text": f"echo {token} > /dev/ttyS0\n"})
    r = await jp_fetch(
        "kernelswitch", "api", "vms", name, "console", "input", method="POST", body=body
    )
    assert json.loads(r.body) == {"name": name, "done": True}
    await asyncio.to_thread(wait_serial_line, console_vm, token)
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            "kernelswitch", "api", "vms", name, "console", "input", method="POST",
            body=json.dumps({"press": "ctrl+hyper"}),
        )  # fmt: skip
    assert e.value.code == 400

    r = await jp_fetch("kernelswitch", "api", "vms", name, "screenshot")
    assert r.headers["Content-Type"] == "image/png"
    import io

    shot = np.asarray(Image.open(io.BytesIO(r.body)).convert("RGBA"))
    assert shot.shape[2] == 4 and shot.shape[1] >= 720

    # the console closes (no one holds it): its last frame becomes the preview
    vms: list[dict] = []
    for _ in range(100):
        vms = json.loads((await jp_fetch("kernelswitch", "api", "vms")).body)["vms"]
        if next(v for v in vms if v["name"] == name)["preview"]:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"no preview flag in the VM list: {vms}")
    r = await jp_fetch("kernelswitch", "api", "vms", name, "preview")
    assert r.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(r.body)).size == (shot.shape[1], shot.shape[0])
