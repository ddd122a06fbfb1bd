"""The console engine against a real guest: RFB client, session fan-out, input,
audio, resolution change, stop/restart and the preview.

One booted test-OS guest for the whole test session (``console_vm``); tests run
in file order because the later ones change the guest (framebuffer mode, power).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.console_vm import mark_stopped, wait_rebooted

from kernelswitch.console import encoders
from kernelswitch.console.backend import LibvirtBackend
from kernelswitch.console.keys import text_events
from kernelswitch.console.session import ConsoleRegistry, Viewer

from .conftest import run, wait_serial_line

URI = "qemu:///session"


class Collector(Viewer):
    """A viewer that keeps what it is sent (optionally slowly)."""

    def __init__(self, delay: float = 0.0, audio: bool = False) -> None:
        super().__init__()
        self.delay = delay
        self.wants_audio = audio
        self.updates: list[bytes] = []
        self.audio: list[bytes] = []
        self.texts: list[str] = []

    async def send_bytes(self, data: bytes) -> None:
        if data[0] == encoders.MSG_AUDIO:
            self.audio.append(data)
            return
        if self.delay:
            await asyncio.sleep(self.delay)
        self.updates.append(data)

    async def send_text(self, text: str) -> None:
        self.texts.append(text)

    def states(self) -> list[str]:
        return [m["state"] for m in map(_json, self.texts) if m["type"] == "status"]


def _json(text: str) -> dict[str, Any]:
    import json

    return json.loads(text)


@pytest.fixture(scope="module")
def manager() -> Any:
    from kernelswitch.vm.manager import VMManager

    return VMManager(URI)


def _registry(manager: Any) -> ConsoleRegistry:
    return ConsoleRegistry(LibvirtBackend(manager), linger=0.5)


def libvirt_screenshot(manager: Any, name: str) -> np.ndarray:
    """The screen as libvirt itself captures it (PPM), as HxWx3."""

    def shot(conn: Any) -> bytes:
        dom = conn.lookupByName(name)
        st = conn.newStream(0)
        dom.screenshot(st, 0, 0)
        chunks = []
        while True:
            buf = st.recv(1 << 20)
            if not buf:
                break
            chunks.append(buf)
        st.finish()
        return b"".join(chunks)

    import io

    from PIL import Image

    data = manager.connection.call(shot)  # PNG (QEMU 7.2) or PPM: Pillow reads both
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_frame_is_the_guest_screen(console_vm: dict, manager: Any) -> None:
    name = console_vm["name"]

    async def main() -> tuple[np.ndarray, np.ndarray]:
        reg = _registry(manager)
        session = reg.session(name)
        async with session.hold():
            assert session.client is not None and session.client.ext_key
            await asyncio.sleep(0.5)
            truth = await asyncio.to_thread(libvirt_screenshot, manager, name)
            frame = await session.frame()
        await reg.close_all()
        return frame, truth

    frame, truth = run(main())
    assert frame.shape == (400, 720, 4) and frame.dtype == np.uint8  # VGA text mode
    assert (frame[..., 3] == 255).all()
    # the same pixels as libvirt's own screenshot, but for the blinking cursor cell
    same = (frame[..., :3] == truth).all(axis=2).mean()
    assert same > 0.995, same
    assert (frame[..., :3] > 128).any(axis=2).mean() > 0.005  # there is text on it


def test_typed_text_lands_in_the_serial_log(console_vm: dict, manager: Any) -> None:
    token = f"TYPED-{secrets.token_hex(3)}_A+B:C!@#%^&*()<>|~"

    async def main() -> None:
        reg = _registry(manager)
        await reg.session(console_vm["name"]).send_keys(
            text_events(f"echo '{token}' > /dev/ttyS0\n")
        )
        await reg.close_all()

    run(main())
    wait_serial_line(console_vm, token + "\n")


def test_viewers_share_frames_and_a_slow_one_slows_nobody(console_vm: dict, manager: Any) -> None:
    async def main() -> tuple[Collector, Collector, Collector, Any]:
        reg = _registry(manager)
        session = reg.session(console_vm["name"])
        fast, other, slow = Collector(), Collector(), Collector(delay=3.0)
        for v in (fast, other, slow):
            session.attach(v)
        await session.wait_connected(30)
        # keep the screen changing for ~3 s
        await session.send_keys(
            text_events("for i in 1 2 3 4 5 6; do ls -l /bin; sleep 0.4; done\n")
        )
        await asyncio.sleep(3.0)
        client = session.client
        for v in (fast, other, slow):
            session.detach(v)
        await reg.close_all()
        return fast, other, slow, client

    fast, other, slow, client = run(main())
    assert fast.states()[-1] == "connected"
    assert len(fast.updates) >= 5
    assert len(slow.updates) <= 2  # it skipped frames rather than queueing them
    # the first (full) frame was encoded once and shared (tiles as black as a new
    # canvas are not sent), and every message after it turns one canvas into the next
    assert fast.updates[0] == other.updates[0]
    w, h, _ = encoders.decode_update(fast.updates[0])
    assert (w, h) == (720, 400)
    screens = [None, None]
    for i, viewer in enumerate((fast, other)):
        for msg in viewer.updates:
            screens[i] = encoders.apply_update(screens[i], msg)
    assert np.array_equal(screens[0], screens[1])
    assert client.updates >= len(fast.updates) - 1


def test_audio_from_the_guest(console_vm: dict, manager: Any) -> None:
    async def main() -> Collector:
        reg = _registry(manager)
        session = reg.session(console_vm["name"])
        listener = Collector(audio=True)
        session.attach(listener)
        await session.wait_connected(30)
        await session.send_keys(text_events("ks-tone 8\n"))
        deadline = time.monotonic() + 20
        while sum(map(len, listener.audio)) < 40_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        session.detach(listener)
        await reg.close_all()
        return listener

    listener = run(main())
    pcm = b"".join(a[8:] for a in listener.audio)
    assert listener.audio[0][:2] == bytes([encoders.MSG_AUDIO, 2])
    assert len(pcm) >= 40_000
    assert np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2").std() > 100  # noise, not silence


def test_led_state_follows_caps_lock(console_vm: dict, manager: Any) -> None:
    from kernelswitch.console.keys import combo_events

    async def main() -> list[dict]:
        reg = _registry(manager)
        session = reg.session(console_vm["name"])
        viewer = Collector()
        session.attach(viewer)
        await session.wait_connected(30)
        await session.send_keys(combo_events("capslock"))
        deadline = time.monotonic() + 10
        leds = []
        while time.monotonic() < deadline:
            leds = [m for m in map(_json, viewer.texts) if m["type"] == "leds"]
            if any(m["caps"] for m in leds):
                break
            await asyncio.sleep(0.1)
        await session.send_keys(combo_events("capslock"))  # back off for later typing
        await asyncio.sleep(1.0)
        leds = [m for m in map(_json, viewer.texts) if m["type"] == "leds"]
        session.detach(viewer)
        await reg.close_all()
        return leds

    leds = run(main())
    assert any(m["caps"] for m in leds), leds
    assert leds[-1]["caps"] is False, leds


def test_pointer_reaches_the_guest(console_vm: dict, manager: Any) -> None:
    async def main() -> None:
        reg = _registry(manager)
        session = reg.session(console_vm["name"])
        async with session.hold():
            await session.send_keys(text_events("ks-mouse\n"))
            wait = asyncio.to_thread(wait_serial_line, console_vm, "KS-MOUSE-WAITING")
            await wait
            for i in range(20):
                session.pointer(100 + 10 * i, 100 + 5 * i, 1 if i % 2 else 0)
                await asyncio.sleep(0.05)
        await reg.close_all()

    run(main())
    wait_serial_line(console_vm, "KS-MOUSE-EVENTS bytes=192")


def test_guest_resolution_change_follows(console_vm: dict, manager: Any) -> None:
    async def main() -> tuple[Collector, np.ndarray]:
        reg = _registry(manager)
        session = reg.session(console_vm["name"])
        viewer = Collector()
        session.attach(viewer)
        await session.wait_connected(30)
        await session.send_keys(text_events("ks-fb\n"))
        deadline = time.monotonic() + 30
        while session.fb.width == 720 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        frame = await session.frame()
        session.detach(viewer)
        await reg.close_all()
        return viewer, frame

    viewer, frame = run(main())
    wait_serial_line(console_vm, "KS-FB ")
    assert frame.shape[1] > 720, frame.shape
    sizes = [(m["width"], m["height"]) for m in map(_json, viewer.texts) if m["type"] == "status"]
    assert sizes[-1] == (frame.shape[1], frame.shape[0])
    w, h, _ = encoders.decode_update(viewer.updates[-1])
    assert (w, h) == (frame.shape[1], frame.shape[0])


def test_stop_says_stopped_keeps_preview_and_restart_reconnects(
    console_vm: dict, manager: Any
) -> None:
    name = console_vm["name"]
    preview = Path(manager.preview_file(name))  # under this test's cache dir
    assert not preview.exists() and manager.info(name)["preview_path"] is None
    assert manager.info(name)["preview"] is False

    async def main() -> Collector:
        from PIL import Image

        reg = _registry(manager)
        session = reg.session(name)
        viewer = Collector()
        session.attach(viewer)
        await session.wait_connected(30)
        last = await session.frame()
        await manager.aio(manager.destroy, name)
        deadline = time.monotonic() + 20
        while session.status != "stopped" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert session.status == "stopped"
        # the VM's last frame is its preview (the viewer is still open)
        kept = np.asarray(Image.open(preview).convert("RGBA"))
        mark_stopped(console_vm)
        await manager.aio(manager.start, name)
        deadline = time.monotonic() + 30
        while session.status != "connected" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        session.detach(viewer)
        await reg.close_all()
        assert kept.shape == last.shape
        assert (kept == last).all(axis=2).mean() > 0.995  # all but a blinking cursor
        return viewer

    viewer = run(main())
    wait_rebooted(console_vm)  # later tests type into it
    states = viewer.states()
    assert "stopped" in states and states[-1] == "connected", states
    assert states.index("stopped") < len(states) - 1
    # closing the last viewer kept the frame it last showed (the restarted VM's)
    assert manager.info(name)["preview_path"] == str(preview)
    assert manager.info(name)["preview"] is True
